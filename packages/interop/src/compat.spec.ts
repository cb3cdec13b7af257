// The two existing grpc-websockets client libraries, unchanged, against the bridge in Node:
// in-process handlers and the gateway to a real grpc-js server.
import { createWebSocketBridge, type WebSocketBridge } from "@grpc-ws/server";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { TestService } from "../../../gen/grpc/testing/test_pb.js";
import { COMPAT_DEADLINE_MS, compatCaseNames, compatCases, type CompatLibrary } from "./compat-cases.js";
import { startGrpcJsTestServer, type GrpcJsTestServer } from "./grpc-js-server.js";
import { createTestServiceImpl, type TestServiceMethodName } from "./test-service.js";

// @improbable-eng/grpc-web uses the global WebSocket, which Node 20 lacks (Node 22 has one); ws
// has the same API. nice-grpc-web brings its own through isomorphic-ws.
(globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;

interface Abort {
  method: TestServiceMethodName;
  reason: unknown;
}

/** In-process TestService whose handler aborts are recorded, with a bounded wait for one. */
function observedService() {
  const aborts: Abort[] = [];
  const waiters = new Set<() => void>();
  const impl = createTestServiceImpl({
    onAbort(method, reason) {
      aborts.push({ method, reason });
      for (const w of [...waiters]) w();
    },
  });
  function waitForAbort(method: TestServiceMethodName, timeoutMs: number): Promise<Abort> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const i = aborts.findIndex((a) => a.method === method);
        if (i < 0) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(aborts.splice(i, 1)[0]!);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`the ${method} handler was not aborted within ${timeoutMs} ms`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  }
  return { impl, aborts, waitForAbort };
}

const libraries: CompatLibrary[] = ["improbable-eng", "nice-grpc-web"];

describe.each(libraries)("%s over grpc-websockets, in-process handlers", (library) => {
  const service = observedService();
  let bridge: WebSocketBridge;
  let baseUrl: string;

  beforeAll(async () => {
    bridge = createWebSocketBridge({ routes: (r) => r.service(TestService, service.impl) });
    const { port } = await bridge.listen();
    baseUrl = `http://127.0.0.1:${port}`;
  });
  afterAll(() => bridge?.close({ drainTimeoutMs: 100 }));

  for (const name of compatCaseNames) {
    it(name, async () => {
      service.aborts.length = 0;
      await compatCases[library][name](baseUrl);
    });
  }

  it("the deadline aborts the handler's signal with DEADLINE_EXCEEDED", async () => {
    service.aborts.length = 0;
    const started = performance.now();
    await compatCases[library].deadline(baseUrl);
    const abort = await service.waitForAbort("StreamingOutputCall", 2_000);
    expect(abort.reason).toMatchObject({ code: Code.DeadlineExceeded });
    expect(performance.now() - started).toBeGreaterThanOrEqual(COMPAT_DEADLINE_MS - 5);
  });

  it("closing the socket cancels the call: the handler's signal aborts with CANCELLED", async () => {
    service.aborts.length = 0;
    await compatCases[library].cancel_after_first_response(baseUrl);
    const abort = await service.waitForAbort("FullDuplexCall", 2_000);
    expect(abort.reason).toMatchObject({ code: Code.Canceled });
  });

  it("each call had its own socket, and all of them are closed", async () => {
    for (let i = 0; i < 50 && bridge.connections > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(bridge.connections).toBe(0);
  });
});

describe.each(libraries)("%s over grpc-websockets, through the gateway to grpc-js", (library) => {
  let upstream: GrpcJsTestServer;
  let bridge: WebSocketBridge;
  let baseUrl: string;

  beforeAll(async () => {
    upstream = await startGrpcJsTestServer();
    bridge = createWebSocketBridge({ upstream: upstream.baseUrl });
    // A base path, as a deployment behind a reverse proxy would have.
    const { port } = await bridge.listen({ path: "/rpc" });
    baseUrl = `http://127.0.0.1:${port}/rpc`;
  });
  afterAll(async () => {
    await bridge?.close({ drainTimeoutMs: 100 });
    await upstream?.close();
  });

  for (const name of compatCaseNames) {
    it(name, async () => {
      await compatCases[library][name](baseUrl);
    });
  }

  it("metadata reaches grpc-js as sent (-bin decoded from base64), without the gRPC-Web transport headers", async () => {
    upstream.clearEvents();
    await compatCases[library].unary_with_metadata(baseUrl);
    const md = upstream.events.calls[0]!.metadata;
    expect(md.get("x-grpc-test-echo-initial")).toEqual(["test_initial_metadata_value"]);
    const bin = md.get("x-grpc-test-echo-trailing-bin")[0];
    expect(Buffer.isBuffer(bin) && [...bin]).toEqual([0xab, 0xab, 0xab]);
    expect(md.get("x-grpc-web")).toEqual([]);
    expect(md.get("content-type")).toEqual([]);
  });

  it("the deadline reaches grpc-js and stops its handler", async () => {
    upstream.clearEvents();
    await compatCases[library].deadline(baseUrl);
    const rec = await upstream.waitForAbort("StreamingOutputCall", 2_000);
    expect(rec.deadline - rec.startedAt).toBeLessThanOrEqual(COMPAT_DEADLINE_MS);
  });

  it("closing the socket cancels the upstream call", async () => {
    upstream.clearEvents();
    await compatCases[library].cancel_after_first_response(baseUrl);
    const rec = await upstream.waitForCancel("FullDuplexCall", 2_000);
    expect(rec.cancelledAt).toBeDefined();
  });
});

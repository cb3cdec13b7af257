// Validates the interop cases and the grpc-js reference server against each other through
// connect-node's gRPC-over-HTTP/2 transport: an implementation independent of grpc-ws.
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Code, ConnectError, createClient, createRouterTransport, type Transport } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InteropAssertionError, interopCaseNames, interopCases } from "./cases.js";
import { startConnectNodeServer, type ConnectNodeTestServer } from "./connect-node-server.js";
import { startGrpcJsTestServer, type GrpcJsTestServer } from "./grpc-js-server.js";
import {
  createTestServiceImpl,
  testServiceImpl,
  type TestServiceImpl,
  type TestServiceMethodName,
} from "./test-service.js";
import { TestService } from "../../../gen/grpc/testing/test_pb.js";

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe("interop cases against grpc-js via connect-node (gRPC over HTTP/2)", () => {
  let server: GrpcJsTestServer;
  let transport: Transport;

  beforeAll(async () => {
    server = await startGrpcJsTestServer();
    transport = createGrpcTransport({ baseUrl: server.baseUrl });
  });

  afterAll(async () => {
    await server?.close();
  });

  for (const name of interopCaseNames) {
    it(name, async () => {
      await interopCases[name](transport);
    });
  }

  it("cancel_after_first_response reaches the grpc-js handler within 1 s", async () => {
    server.clearEvents();
    await interopCases.cancel_after_first_response(transport);
    const rec = await server.waitForCancel("FullDuplexCall", 1000);
    expect(rec.cancelledAt).toBeDefined();
    expect(server.events.cancelled).toEqual(["FullDuplexCall"]);
  });

  it("timeout_on_sleeping_server stops the grpc-js handler (deadline or reset) within 1 s", async () => {
    server.clearEvents();
    await interopCases.timeout_on_sleeping_server(transport);
    const rec = await server.waitForAbort("FullDuplexCall", 1000);
    // The client sent grpc-timeout, so the server knew the deadline.
    expect(rec.deadline).toBeLessThan(Infinity);
    expect(rec.deadline - rec.startedAt).toBeLessThanOrEqual(1);
  });

  it("a deadline stops a sleeping grpc-js handler", async () => {
    server.clearEvents();
    const client = createClient(TestService, transport);
    // One response after 5 s, but a 200 ms timeout: the handler is asleep when the deadline hits.
    const call = collect(
      client.streamingOutputCall({ responseParameters: [{ size: 1, intervalUs: 5_000_000 }] }, { timeoutMs: 200 }),
    );
    await expect(call).rejects.toMatchObject({ code: Code.DeadlineExceeded });
    const rec = await server.waitForAbort("StreamingOutputCall", 1000);
    expect(rec.deadline - rec.startedAt).toBeLessThanOrEqual(200);
  });

  it("echoes request metadata as the server received it", async () => {
    server.clearEvents();
    await interopCases.custom_metadata(transport);
    expect(server.events.started).toEqual(["UnaryCall", "FullDuplexCall"]);
    const bin = server.events.calls[0]?.metadata.get("x-grpc-test-echo-trailing-bin")[0];
    expect(Buffer.isBuffer(bin) && [...bin]).toEqual([0xab, 0xab, 0xab]);
  });

  it("a failing case throws a descriptive error", async () => {
    // Sanity check of the assertion helpers: a server that is not there fails every case loudly.
    const dead = createGrpcTransport({ baseUrl: "http://127.0.0.1:1" });
    await expect(interopCases.empty_unary(dead)).rejects.toThrow(/unavailable|ECONNREFUSED|connect/i);
  });
});

describe("interop cases against the Connect ServiceImpl via connect-node (gRPC over HTTP/2)", () => {
  let server: ConnectNodeTestServer | undefined;
  let transport: Transport;
  const aborts: { method: TestServiceMethodName; reason: unknown }[] = [];
  const waiters = new Set<() => void>();

  // Resolves once the observer saw `method`'s ctx.signal abort (bounded by timeoutMs).
  function waitForAbort(method: TestServiceMethodName, timeoutMs: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const i = aborts.findIndex((a) => a.method === method);
        if (i < 0) return false;
        const [hit] = aborts.splice(i, 1);
        clearTimeout(timer);
        waiters.delete(check);
        resolve(hit?.reason);
        return true;
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no abort of ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      if (!check()) waiters.add(check);
    });
  }

  beforeAll(async () => {
    const impl = createTestServiceImpl({
      onAbort(method, reason) {
        aborts.push({ method, reason });
        for (const w of [...waiters]) w();
      },
    });
    server = await startConnectNodeServer({ routes: (router) => router.service(TestService, impl) });
    transport = createGrpcTransport({ baseUrl: server.baseUrl });
  });

  afterAll(() => server?.close());

  for (const name of interopCaseNames) {
    it(name, async () => {
      await interopCases[name](transport);
    });
  }

  it("a client cancel aborts a busy handler's ctx.signal within 1 s", async () => {
    // connect-node's client half-closes right before it resets a cancelled stream, so a handler
    // that is only waiting for input may finish cleanly first; keep this one busy (asleep in
    // interval_us) so the cancel must come through ctx.signal.
    aborts.length = 0;
    const ac = new AbortController();
    const client = createClient(TestService, transport);
    const it = client
      .fullDuplexCall(
        (async function* () {
          yield { responseParameters: [{ size: 31415 }, { size: 1, intervalUs: 5_000_000 }] };
          await new Promise((resolve) => ac.signal.addEventListener("abort", resolve));
        })(),
        { signal: ac.signal },
      )
      [Symbol.asyncIterator]();
    expect((await it.next()).value?.payload?.body.length).toBe(31415);
    ac.abort();
    await expect(it.next()).rejects.toMatchObject({ code: Code.Canceled });
    await waitForAbort("FullDuplexCall", 1000);
  });

  it("a deadline aborts a sleeping handler's ctx.signal", async () => {
    aborts.length = 0;
    const client = createClient(TestService, transport);
    const call = collect(
      client.streamingOutputCall({ responseParameters: [{ size: 1, intervalUs: 5_000_000 }] }, { timeoutMs: 200 }),
    );
    await expect(call).rejects.toMatchObject({ code: Code.DeadlineExceeded });
    await waitForAbort("StreamingOutputCall", 1000);
  });
});

describe("the cases detect broken servers", () => {
  // In-memory Connect transport around deliberately wrong implementations.
  function broken(patch: Partial<TestServiceImpl>): Transport {
    return createRouterTransport((router) => router.service(TestService, { ...testServiceImpl, ...patch }));
  }

  it("all cases pass against the in-memory router transport", async () => {
    for (const name of interopCaseNames)
      await interopCases[name](createRouterTransport((r) => r.service(TestService, testServiceImpl)));
  });

  it("large_unary: wrong response size", async () => {
    const t = broken({ unaryCall: (req) => ({ payload: { body: new Uint8Array(req.responseSize - 1) } }) });
    await expect(interopCases.large_unary(t)).rejects.toThrow(InteropAssertionError);
  });

  it("client_streaming: wrong aggregate", async () => {
    const t = broken({ streamingInputCall: async () => ({ aggregatedPayloadSize: 1 }) });
    await expect(interopCases.client_streaming(t)).rejects.toThrow(/aggregated_payload_size: expected 74922, got 1/);
  });

  it("server_streaming: a missing response", async () => {
    const t = broken({
      async *streamingOutputCall(req) {
        for (const p of req.responseParameters.slice(1)) yield { payload: { body: new Uint8Array(p.size) } };
      },
    });
    await expect(interopCases.server_streaming(t)).rejects.toThrow(/number of responses/);
  });

  it("custom_metadata: trailer not echoed", async () => {
    const t = broken({
      unaryCall(req, ctx) {
        ctx.responseHeader.set("x-grpc-test-echo-initial", ctx.requestHeader.get("x-grpc-test-echo-initial") ?? "");
        return { payload: { body: new Uint8Array(req.responseSize) } };
      },
    });
    await expect(interopCases.custom_metadata(t)).rejects.toThrow(
      /trailing metadata x-grpc-test-echo-trailing-bin missing/,
    );
  });

  it("status_code_and_message: wrong message", async () => {
    const t = broken({
      unaryCall() {
        throw new ConnectError("other", Code.Unknown);
      },
    });
    await expect(interopCases.status_code_and_message(t)).rejects.toThrow(
      /status message: expected "test status message", got "other"/,
    );
  });
});

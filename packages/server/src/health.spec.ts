import { createServer, type Server } from "node:http";
import { createClient } from "@connectrpc/connect";
import { createWebSocketTransport } from "@grpc-ws/client";
import { createTestServiceImpl } from "@grpc-ws/interop";
import { afterEach, describe, expect, test } from "vitest";
import { TestService } from "../../../gen/grpc/testing/test_pb.js";
import { createHealthHandler, createWebSocketBridge, type WebSocketBridge } from "./index.js";
import { httpGet as get } from "./test-client.test-util.js";

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function bridgeWithSlowStream(): WebSocketBridge {
  return createWebSocketBridge({ routes: (r) => r.service(TestService, createTestServiceImpl()), keepalive: false });
}

// A server stream that stays open: it holds the drain open while the test probes.
async function openStream(url: string): Promise<{ done: Promise<unknown>; abort: () => void }> {
  const transport = createWebSocketTransport({ url });
  cleanup.push(() => transport.close());
  const controller = new AbortController();
  const client = createClient(TestService, transport);
  const it = client
    .streamingOutputCall(
      {
        responseParameters: [
          { size: 1, intervalUs: 0 },
          { size: 1, intervalUs: 3_000_000 },
        ],
      },
      { signal: controller.signal },
    )
    [Symbol.asyncIterator]();
  await it.next(); // the stream is open
  const done = (async () => {
    try {
      for (let r = await it.next(); !r.done; r = await it.next());
    } catch (e) {
      return e;
    }
  })();
  return { done, abort: () => controller.abort() };
}

describe("listen()'s health endpoints", () => {
  test("readiness turns 503 as soon as close() starts draining while liveness stays 200, until the drain ends", async () => {
    const bridge = bridgeWithSlowStream();
    const { url, port } = await bridge.listen();
    cleanup.push(() => bridge.close({ drainTimeoutMs: 100 }));
    expect(await get(port, "/readyz")).toEqual({ status: 200, body: "ok\n" });
    expect(await get(port, "/healthz")).toEqual({ status: 200, body: "ok\n" });
    expect(bridge.draining).toBe(false);

    const stream = await openStream(url);
    const closing = bridge.close({ drainTimeoutMs: 10_000 });
    expect(bridge.draining).toBe(true);
    expect(await get(port, "/readyz")).toEqual({ status: 503, body: "draining\n" });
    expect(await get(port, "/healthz")).toEqual({ status: 200, body: "ok\n" });
    // Still draining: the stream is open.
    expect(bridge.connections).toBe(1);
    stream.abort();
    await stream.done;
    await closing;
    await expect(get(port, "/healthz")).rejects.toThrow(/ECONNREFUSED/);
  });

  test("custom paths, HEAD, other methods, other paths, and health: false", async () => {
    const bridge = bridgeWithSlowStream();
    const { port } = await bridge.listen({ health: { livePath: "/live", readyPath: "/ready" } });
    cleanup.push(() => bridge.close({ drainTimeoutMs: 100 }));
    expect((await get(port, "/ready?x=1")).status).toBe(200);
    expect(await get(port, "/live", "HEAD")).toEqual({ status: 200, body: "" });
    expect((await get(port, "/live", "POST")).status).toBe(405);
    expect((await get(port, "/readyz")).status).toBe(426);
    const none = bridgeWithSlowStream();
    const other = await none.listen({ health: false });
    cleanup.push(() => none.close({ drainTimeoutMs: 100 }));
    expect((await get(other.port, "/healthz")).status).toBe(426);
  });
});

describe("createHealthHandler on your own server", () => {
  test("answers its paths, leaves others to the application, and follows the bridge's drain", async () => {
    const bridge = bridgeWithSlowStream();
    const health = createHealthHandler(bridge);
    const server: Server = createServer((req, res) => {
      if (health(req, res)) return;
      res.writeHead(200).end("app\n");
    });
    bridge.attach(server, { path: "/grpc" });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    cleanup.push(() => new Promise((resolve) => server.close(resolve)));
    const port = (server.address() as { port: number }).port;
    expect((await get(port, "/readyz")).status).toBe(200);
    expect(await get(port, "/other")).toEqual({ status: 200, body: "app\n" });
    await bridge.close({ drainTimeoutMs: 100 });
    expect((await get(port, "/readyz")).status).toBe(503);
    expect((await get(port, "/healthz")).status).toBe(200);
  });
});

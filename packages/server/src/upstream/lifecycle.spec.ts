// The shared upstream connection over time, watched through a counting TCP proxy: closed after
// maxSessionIdleMs and reopened by the next call; a graceful GOAWAY lets calls in flight finish;
// the bridge's close() closes it; a call the connection refuses (headers Node will not send), or
// a router that throws, fails alone; calls leave no timers behind.
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createWebSocketTransport, type WebSocketTransport } from "@grpc-ws/client";
import { startGrpcJsTestServer, type GrpcJsTestServer } from "@grpc-ws/interop";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { TestService } from "../../../../gen/grpc/testing/test_pb.js";
import { createWebSocketBridge, type WebSocketBridge } from "../index.js";
import type { UpstreamConfig } from "./config.js";
import { startCountingProxy, type CountingProxy } from "./test-proxy.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every 10 ms for at most `ms`; returns its last result. */
async function eventually(check: () => boolean, ms = 2000): Promise<boolean> {
  for (let i = 0; i < ms / 10 && !check(); i++) await sleep(10);
  return check();
}

async function errorOf(promise: Promise<unknown>): Promise<ConnectError | undefined> {
  return promise.then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
}

async function drain(stream: AsyncIterable<unknown>): Promise<number> {
  let n = 0;
  for await (const _ of stream) n++;
  return n;
}

let upstream: GrpcJsTestServer;
let proxy: CountingProxy;
const open: Array<{ close(): Promise<unknown> }> = [];

beforeAll(async () => {
  upstream = await startGrpcJsTestServer();
  proxy = await startCountingProxy(upstream.port);
});

afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

afterAll(async () => {
  await proxy?.close();
  await upstream?.close();
});

async function gateway(config: UpstreamConfig): Promise<{ bridge: WebSocketBridge; transport: WebSocketTransport }> {
  const bridge = createWebSocketBridge({ upstream: config });
  const { url } = await bridge.listen();
  const transport = createWebSocketTransport({ url });
  open.push({ close: () => bridge.close({ drainTimeoutMs: 100 }) }, transport);
  return { bridge, transport };
}

describe("maxSessionIdleMs", () => {
  it("closes the idle connection and the next call reconnects", async () => {
    const { transport } = await gateway({ target: proxy.url, maxSessionIdleMs: 100 });
    const client = createClient(TestService, transport);
    const before = proxy.accepted;
    expect((await client.unaryCall({ responseSize: 1 })).payload?.body.length).toBe(1);
    expect(proxy.accepted).toBe(before + 1);
    expect(await eventually(() => proxy.open === 0)).toBe(true);
    expect((await client.unaryCall({ responseSize: 2 })).payload?.body.length).toBe(2);
    expect(proxy.accepted).toBe(before + 2);
  });

  it("keeps the connection while a call runs longer than the idle time", async () => {
    const { transport } = await gateway({ target: proxy.url, maxSessionIdleMs: 50 });
    const client = createClient(TestService, transport);
    const before = proxy.accepted;
    const n = await drain(
      client.streamingOutputCall({
        responseParameters: [
          { size: 1, intervalUs: 150_000 },
          { size: 1, intervalUs: 150_000 },
        ],
      }),
    );
    expect(n).toBe(2);
    // The same connection served the call, and the one right after it.
    await client.emptyCall({});
    expect(proxy.accepted).toBe(before + 1);
  });
});

describe("connection lifecycle", () => {
  it("the bridge's close() closes the upstream connection", async () => {
    const { bridge, transport } = await gateway(proxy.url);
    const client = createClient(TestService, transport);
    await client.emptyCall({});
    expect(proxy.open).toBe(1);
    // A call still running upstream when the bridge closes.
    const running = errorOf(
      drain(client.streamingOutputCall({ responseParameters: [{ size: 1, intervalUs: 5_000_000 }] })),
    );
    expect(await eventually(() => upstream.events.started.includes("StreamingOutputCall"))).toBe(true);
    await bridge.close({ drainTimeoutMs: 50 });
    expect(await eventually(() => proxy.open === 0, 1000)).toBe(true);
    expect((await running)?.code).toBe(Code.Unavailable);
  });

  it("a graceful GOAWAY (grpc-js max_connection_age) lets the call in flight finish; the next call reconnects", async () => {
    const aging = await startGrpcJsTestServer({
      serverOptions: { "grpc.max_connection_age_ms": 200, "grpc.max_connection_age_grace_ms": 5000 },
    });
    const agingProxy = await startCountingProxy(aging.port);
    open.push(aging, agingProxy);
    const { transport } = await gateway(agingProxy.url);
    const client = createClient(TestService, transport);
    // 4 x 150 ms: the connection reaches its maximum age in the middle of the call.
    const params = Array.from({ length: 4 }, () => ({ size: 3, intervalUs: 150_000 }));
    expect(await drain(client.streamingOutputCall({ responseParameters: params }))).toBe(4);
    expect(await eventually(() => agingProxy.open === 0)).toBe(true);
    expect((await client.unaryCall({ responseSize: 4 })).payload?.body.length).toBe(4);
    expect(agingProxy.accepted).toBe(2);
  });

  it("repeated single-value headers fail that call INTERNAL; the shared connection serves on", async () => {
    const { transport } = await gateway({
      target: proxy.url,
      // Node's http2 sends at most one `authorization`: two values cannot be forwarded.
      onRequest: ({ headers }) =>
        headers.some(([n]) => n === "x-twice")
          ? [...headers, ["authorization", "Bearer a"], ["authorization", "Bearer b"]]
          : headers,
    });
    const client = createClient(TestService, transport);
    const before = proxy.accepted;
    const longCall = drain(
      client.streamingOutputCall({ responseParameters: [{ size: 1 }, { size: 1, intervalUs: 200_000 }] }),
    );
    expect(await eventually(() => upstream.events.started.includes("StreamingOutputCall"))).toBe(true);
    const error = await errorOf(client.emptyCall({}, { headers: { "x-twice": "1" } }));
    expect(error?.code).toBe(Code.Internal);
    expect(error?.rawMessage).toBe(
      `cannot forward the request metadata to upstream ${proxy.url}/: Header field "authorization" must only have a single value (ERR_HTTP2_HEADER_SINGLE_VALUE)`,
    );
    expect(await longCall).toBe(2);
    await client.emptyCall({});
    expect(proxy.accepted).toBe(before + 1);
  });

  it("a router that throws ends the call INTERNAL, naming the routing failure", async () => {
    const { transport } = await gateway({
      route(path) {
        if (path.endsWith("/EmptyCall")) throw new Error("routing table not loaded");
        if (path.endsWith("/UnaryCall")) return "ftp://nowhere";
        return proxy.url;
      },
    });
    const client = createClient(TestService, transport);
    const error = await errorOf(client.emptyCall({}));
    expect(error).toMatchObject({
      code: Code.Internal,
      rawMessage: "upstream routing failed for /grpc.testing.TestService/EmptyCall: routing table not loaded",
    });
    const bad = await errorOf(client.unaryCall({}));
    expect(bad?.code).toBe(Code.Internal);
    expect(bad?.rawMessage).toContain(
      "upstream routing failed for /grpc.testing.TestService/UnaryCall: upstream target ftp://nowhere/ must be an http: or https: URL",
    );
    // Other paths still route.
    expect(await drain(client.streamingOutputCall({ responseParameters: [{ size: 1 }] }))).toBe(1);
  });

  it("every kind of call end releases the connection: it goes idle and closes; no timers are left", async () => {
    const { transport } = await gateway({
      target: proxy.url,
      maxSessionIdleMs: 150,
      keepalive: { intervalMs: 60_000, timeoutMs: 1000 },
      onRequest({ headers }) {
        if (headers.some(([n]) => n === "x-reject")) throw new ConnectError("rejected", Code.PermissionDenied);
      },
    });
    const client = createClient(TestService, transport);
    const batch = async () => {
      for (let i = 0; i < 10; i++) {
        await client.unaryCall({ responseSize: 1 }, { timeoutMs: 5000 });
        expect(await drain(client.streamingOutputCall({ responseParameters: [{ size: 1 }, { size: 1 }] }))).toBe(2);
        expect(
          (await errorOf(client.unaryCall({ responseStatus: { code: Code.NotFound, message: "no" } })))?.code,
        ).toBe(Code.NotFound);
        expect((await errorOf(client.emptyCall({}, { headers: { "x-reject": "1" } })))?.code).toBe(
          Code.PermissionDenied,
        );
        const slow = client.streamingOutputCall(
          { responseParameters: [{ size: 1, intervalUs: 5_000_000 }] },
          { timeoutMs: 30 },
        );
        expect((await errorOf(drain(slow)))?.code).toBe(Code.DeadlineExceeded);
        const ac = new AbortController();
        const upload = client.streamingInputCall(
          (async function* () {
            yield { payload: { body: new Uint8Array(1) } };
            ac.abort();
          })(),
          { signal: ac.signal },
        );
        expect((await errorOf(upload))?.code).toBe(Code.Canceled);
      }
    };
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    await batch();
    // A call that never released the connection would keep it open past maxSessionIdleMs.
    expect(await eventually(() => proxy.open === 0)).toBe(true);
    const base = timers();
    await batch();
    expect(await eventually(() => proxy.open === 0)).toBe(true);
    expect(timers()).toBeLessThanOrEqual(base + 2);
  });
});

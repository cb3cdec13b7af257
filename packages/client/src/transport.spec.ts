// End to end through the real bridge: concurrency on one socket, flow control, errors, limits, interceptors.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createTestServiceImpl, pushable, type TestServiceImpl } from "@grpc-ws/interop";
import { createWebSocketBridge, type WebSocketBridge } from "@grpc-ws/server";
import type { Session } from "@grpc-ws/wire";
import { afterEach, describe, expect, it } from "vitest";
import { EmptySchema } from "../../../gen/grpc/testing/empty_pb.js";
import {
  PayloadType,
  StreamingOutputCallRequestSchema,
  type StreamingOutputCallRequest,
} from "../../../gen/grpc/testing/messages_pb.js";
import { TestService } from "../../../gen/grpc/testing/test_pb.js";
import { countingWebSocket, waitFor } from "./client.test-util.js";
import { createWebSocketTransport, type WebSocketTransport, type WebSocketTransportOptions } from "./index.js";

const COMPRESSABLE = PayloadType.COMPRESSABLE;

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function setup(
  impl: Partial<TestServiceImpl> = {},
  options: Partial<WebSocketTransportOptions> = {},
  bridgeSettings?: Parameters<typeof createWebSocketBridge>[0],
): Promise<{ bridge: WebSocketBridge; transport: WebSocketTransport; opened: () => number }> {
  const bridge = createWebSocketBridge({
    ...bridgeSettings,
    routes: (r) => r.service(TestService, { ...createTestServiceImpl(), ...impl }),
  });
  const { url } = await bridge.listen({ port: 0 });
  const counting = countingWebSocket();
  const transport = createWebSocketTransport({ url, webSocket: counting.ctor, ...options });
  cleanups.push(
    () => bridge.close({ drainTimeoutMs: 50 }),
    () => transport.close(),
  );
  return { bridge, transport, opened: counting.opened };
}

function serverSessions(bridge: WebSocketBridge): Session[] {
  return (bridge as unknown as { sessions: Session[] }).sessions;
}

describe("multiplexing", () => {
  it("runs 200 concurrent calls of all four kinds on one WebSocket", async () => {
    let active = 0;
    let peak = 0;
    let started = 0;
    const impl = createTestServiceImpl({
      onStart() {
        started++;
        peak = Math.max(peak, ++active);
      },
      onEnd() {
        active--;
      },
    });
    const { bridge, transport, opened } = await setup(impl);
    const client = createClient(TestService, transport);
    const calls: Array<Promise<void>> = [];
    for (let i = 0; i < 200; i++) {
      const n = 10 + i;
      switch (i % 4) {
        case 0:
          calls.push(
            client
              .unaryCall({ responseType: COMPRESSABLE, responseSize: n, payload: { body: new Uint8Array(n) } })
              .then((res) => {
                expect(res.payload?.body.length).toBe(n);
              }),
          );
          break;
        case 1:
          calls.push(
            (async () => {
              const sizes: number[] = [];
              for await (const res of client.streamingOutputCall({
                responseType: COMPRESSABLE,
                responseParameters: [{ size: n }, { size: 1 }, { size: 2 }],
              })) {
                sizes.push(res.payload?.body.length ?? -1);
              }
              expect(sizes).toEqual([n, 1, 2]);
            })(),
          );
          break;
        case 2:
          calls.push(
            (async () => {
              async function* requests() {
                for (const size of [n, 1, 2]) yield { payload: { body: new Uint8Array(size) } };
              }
              const res = await client.streamingInputCall(requests());
              expect(res.aggregatedPayloadSize).toBe(n + 3);
            })(),
          );
          break;
        case 3:
          calls.push(
            (async () => {
              const input = pushable<StreamingOutputCallRequest>();
              const sizes: number[] = [];
              const responses = client.fullDuplexCall(input);
              for (const size of [n, 3, 4]) {
                input.push(
                  create(StreamingOutputCallRequestSchema, {
                    responseType: COMPRESSABLE,
                    responseParameters: [{ size }],
                  }),
                );
              }
              input.end();
              for await (const res of responses) sizes.push(res.payload?.body.length ?? -1);
              expect(sizes).toEqual([n, 3, 4]);
            })(),
          );
          break;
      }
    }
    await Promise.all(calls);
    expect(started).toBe(200);
    expect(opened()).toBe(1);
    expect(bridge.connections).toBe(1);
    // The bridge allows 100 concurrent streams by default: the rest waited in the client's queue.
    expect(peak).toBeLessThanOrEqual(100);
  });
});

describe("flow control", () => {
  it("a stalled consumer holds back only its own stream, with bounded server-side buffering", async () => {
    const MESSAGE = 64 * 1024;
    let yielded = 0;
    const { bridge, transport } = await setup(
      {
        async *streamingOutputCall(_req, ctx) {
          for (let i = 0; i < 1000 && !ctx.signal.aborted; i++) {
            yielded++;
            yield { payload: { type: COMPRESSABLE, body: new Uint8Array(MESSAGE) } };
          }
        },
        // Uncompressed, so that the windows count the 64 KiB messages (gzip makes them ~100 bytes).
      },
      { acceptCompression: [] },
    );
    const client = createClient(TestService, transport);
    const abort = new AbortController();
    const stalled = client.streamingOutputCall({}, { signal: abort.signal })[Symbol.asyncIterator]();
    expect((await stalled.next()).value?.payload?.body.length).toBe(MESSAGE);
    // Let the server run until the windows stop it (bounded wait).
    let last = -1;
    await waitFor(
      () => {
        const settled = yielded === last;
        last = yielded;
        return settled && yielded > 1;
      },
      3000,
      "the server to stop producing",
    );
    await new Promise((r) => setTimeout(r, 100));
    // Client window 256 KiB + server write high-water mark 64 KiB: a handful of 64 KiB messages, not 1000.
    expect(yielded).toBeLessThanOrEqual(10);
    const [session] = serverSessions(bridge);
    // The first call on the connection: stream 1, the only one open.
    expect(session!.activeStreams).toBe(1);
    expect(session!.stream(1)!.pendingBytes).toBeLessThanOrEqual(64 * 1024 + MESSAGE + 5);

    // Another call on the same connection is not affected.
    const res = await client.unaryCall({ responseType: COMPRESSABLE, responseSize: 100_000 });
    expect(res.payload?.body.length).toBe(100_000);

    // Reading again lets the stalled stream continue.
    for (let i = 0; i < 20; i++) expect((await stalled.next()).done).toBe(false);
    expect(yielded).toBeGreaterThan(20);
    abort.abort();
    await expect(stalled.next()).rejects.toMatchObject({ code: Code.Canceled });
  });

  it("a large client stream is sent within the server's windows", async () => {
    const { transport } = await setup(
      {},
      {},
      { settings: { initialStreamWindow: 16 * 1024, initialConnectionWindow: 64 * 1024 } },
    );
    const client = createClient(TestService, transport);
    async function* requests() {
      for (let i = 0; i < 100; i++) yield { payload: { body: new Uint8Array(10_000) } };
    }
    const res = await client.streamingInputCall(requests());
    expect(res.aggregatedPayloadSize).toBe(1_000_000);
  });
});

describe("errors and metadata", () => {
  it("carries status, message, metadata and details of an error", async () => {
    const { transport } = await setup({
      emptyCall(_req, ctx) {
        ctx.responseHeader.set("x-header", "h");
        throw new ConnectError("bad precondition: ünïcödé %", Code.FailedPrecondition, { "x-trailer": "t" }, [
          { desc: EmptySchema, value: {} },
        ]);
      },
    });
    const client = createClient(TestService, transport);
    const err = await client.emptyCall({}).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConnectError);
    const ce = err as ConnectError;
    expect(ce.code).toBe(Code.FailedPrecondition);
    expect(ce.rawMessage).toBe("bad precondition: ünïcödé %");
    expect(ce.metadata.get("x-trailer")).toBe("t");
    expect(ce.findDetails(EmptySchema)).toHaveLength(1);
  });

  it("exposes response headers before the stream ends, and trailers after", async () => {
    const { transport } = await setup({
      async *streamingOutputCall(_req, ctx) {
        ctx.responseHeader.set("x-h", "1");
        ctx.responseHeader.set("x-h-bin", "AQID");
        ctx.responseTrailer.set("x-t", "2");
        yield { payload: { body: new Uint8Array(1) } };
        await new Promise((r) => setTimeout(r, 20));
        yield { payload: { body: new Uint8Array(1) } };
      },
    });
    const method = TestService.method.streamingOutputCall;
    const res = await transport.stream(
      method,
      undefined,
      undefined,
      undefined,
      (async function* () {
        yield create(method.input, {});
      })(),
    );
    expect(res.header.get("x-h")).toBe("1");
    expect(res.header.get("x-h-bin")).toBe("AQID");
    let count = 0;
    for await (const _ of res.message) count++;
    expect(count).toBe(2);
    expect(res.trailer.get("x-t")).toBe("2");
  });

  it("rejects a response larger than maxMessageSize with ResourceExhausted", async () => {
    const { transport } = await setup({}, { maxMessageSize: 1024 });
    const client = createClient(TestService, transport);
    await expect(client.unaryCall({ responseType: COMPRESSABLE, responseSize: 4096 })).rejects.toMatchObject({
      code: Code.ResourceExhausted,
    });
    // The connection survives the failed call.
    expect((await client.unaryCall({ responseType: COMPRESSABLE, responseSize: 10 })).payload?.body.length).toBe(10);
  });

  it("rejects a request larger than the server's maxMessageSize with ResourceExhausted, before sending it", async () => {
    let calls = 0;
    const { transport } = await setup(
      {
        unaryCall() {
          calls++;
          return {};
        },
      },
      {},
      { settings: { maxMessageSize: 1024 } },
    );
    const client = createClient(TestService, transport);
    await expect(client.unaryCall({ payload: { body: new Uint8Array(4096) } })).rejects.toMatchObject({
      code: Code.ResourceExhausted,
    });
    expect(calls).toBe(0);
  });

  it("rejects request headers the wire cannot carry", async () => {
    const { transport } = await setup();
    const client = createClient(TestService, transport);
    await expect(client.emptyCall({}, { headers: { "x-bin": "not base64 !" } })).rejects.toMatchObject({
      code: Code.Internal,
    });
    await expect(client.emptyCall({}, { headers: { "x-text": "é" } })).rejects.toMatchObject({ code: Code.Internal });
    // Over the server's 16 KiB max frame size: fails this call only, before a stream id is spent.
    await expect(client.emptyCall({}, { headers: { "x-big": "a".repeat(20_000) } })).rejects.toMatchObject({
      code: Code.ResourceExhausted,
    });
    await expect(client.emptyCall({})).resolves.toBeDefined();
  });
});

describe("interceptors", () => {
  it("wraps unary and streaming calls in Connect's order and may add headers", async () => {
    const seen: string[] = [];
    const log: string[] = [];
    const impl = createTestServiceImpl({
      onStart(_method, ctx) {
        seen.push(ctx.requestHeader.get("x-intercepted") ?? "missing");
      },
    });
    const outer: Interceptor = (next) => async (req) => {
      log.push(`outer ${req.stream ? "stream" : "unary"} ${req.url}`);
      req.header.set("x-intercepted", "yes");
      const res = await next(req);
      log.push("outer done");
      return res;
    };
    const inner: Interceptor = (next) => async (req) => {
      log.push("inner");
      return next(req);
    };
    const { transport } = await setup(impl, { interceptors: [outer, inner] });
    const client = createClient(TestService, transport);
    await client.emptyCall({});
    for await (const _ of client.streamingOutputCall({ responseParameters: [{ size: 1 }] })) {
      // drain
    }
    expect(seen).toEqual(["yes", "yes"]);
    expect(log[0]).toMatch(/^outer unary ws:\/\/127\.0\.0\.1:\d+\/grpc\.testing\.TestService\/EmptyCall$/);
    expect(log.slice(1, 3)).toEqual(["inner", "outer done"]);
    expect(log[3]).toMatch(/^outer stream .*StreamingOutputCall$/);
  });
});

describe("options", () => {
  it("rejects a url that is not ws:// or wss://, and bad settings, at creation", () => {
    expect(() => createWebSocketTransport({ url: "http://127.0.0.1:1/" })).toThrow(TypeError);
    expect(() => createWebSocketTransport({ url: "ws://127.0.0.1:1/", settings: { maxFrameSize: 10 } })).toThrow(
      RangeError,
    );
  });

  it("rejects timing options that would break the timers, at creation", () => {
    const url = "ws://127.0.0.1:1/";
    for (const bad of [
      { reconnect: { initialDelayMs: Number.NaN } },
      { reconnect: { maxDelayMs: 2 ** 31 } },
      { reconnect: { multiplier: 0.5 } },
      { reconnect: { jitter: 2 } },
      { connectTimeoutMs: 0 },
      { keepalive: { intervalMs: 1000, timeoutMs: Number.NaN } },
    ] satisfies Array<Partial<WebSocketTransportOptions>>) {
      expect(() => createWebSocketTransport({ url, ...bad }), JSON.stringify(bad)).toThrow(RangeError);
    }
  });

  it("a reconnect field given as undefined keeps its default", async () => {
    // Port 1 on loopback refuses at once; the default 1 s backoff (+-20%) must follow, not NaN (= 1 ms).
    const transport = createWebSocketTransport({ url: "ws://127.0.0.1:1/", reconnect: { initialDelayMs: undefined } });
    cleanups.push(() => transport.close());
    await expect(transport.connect()).rejects.toMatchObject({ code: Code.Unavailable });
    await new Promise((r) => setTimeout(r, 100));
    expect(transport.state).toBe("backoff");
  });

  it("onStateChange returns an unsubscribe function", async () => {
    const { transport } = await setup();
    const seen: string[] = [];
    const off = transport.onStateChange((s) => seen.push(s));
    await transport.connect();
    off();
    await transport.close();
    expect(seen).toEqual(["connecting", "open"]);
  });
});

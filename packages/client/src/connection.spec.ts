// Connection lifecycle: loss, reconnect and backoff, GOAWAY, deadlines, aborts, close, keepalive.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createTestServiceImpl, pushable, type TestServiceMethodName } from "@grpc-ws/interop";
import { createWebSocketBridge, type WebSocketBridge } from "@grpc-ws/server";
import {
  ErrorCode,
  GRPC_TIMEOUT,
  Status,
  createTrailers,
  getMetadata,
  type Metadata,
  type Stream,
} from "@grpc-ws/wire";
import { createServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { EmptySchema } from "../../../gen/grpc/testing/empty_pb.js";
import {
  StreamingOutputCallRequestSchema,
  type StreamingOutputCallRequest,
} from "../../../gen/grpc/testing/messages_pb.js";
import { TestService } from "../../../gen/grpc/testing/test_pb.js";
import {
  countingWebSocket,
  goAwayFrame,
  serveSession,
  settingsFrame,
  startRawServer,
  startTcpProxy,
  waitFor,
} from "./client.test-util.js";
import { createWebSocketTransport, type ConnectionState, type WebSocketTransportOptions } from "./index.js";
import { MAX_TRANSPARENT_RETRIES } from "./transparent-retry.js";

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function transportFor(url: string, options: Partial<WebSocketTransportOptions> = {}) {
  const counting = countingWebSocket();
  const transport = createWebSocketTransport({ url, webSocket: counting.ctor, ...options });
  const states: ConnectionState[] = [];
  transport.onStateChange((s) => states.push(s));
  cleanups.push(() => transport.close());
  return { transport, opened: counting.opened, states };
}

async function startBridge(
  events: { aborted: TestServiceMethodName[]; started: TestServiceMethodName[] },
  port = 0,
): Promise<{ bridge: WebSocketBridge; port: number }> {
  const impl = createTestServiceImpl({
    onStart: (m) => events.started.push(m),
    onAbort: (m) => events.aborted.push(m),
  });
  const bridge = createWebSocketBridge({
    routes: (r) =>
      r.service(TestService, {
        ...impl,
        // Silent until the call is cancelled.
        async emptyCall(_req, ctx) {
          events.started.push("EmptyCall");
          await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
          events.aborted.push("EmptyCall");
          return {};
        },
      }),
  });
  const listening = await bridge.listen({ port });
  cleanups.push(() => bridge.close({ drainTimeoutMs: 0 }));
  return { bridge, port: listening.port };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function request(size: number): StreamingOutputCallRequest {
  return create(StreamingOutputCallRequestSchema, { responseParameters: [{ size }] });
}

describe("connection loss", () => {
  it("fails in-flight calls with Unavailable, aborts the handlers, and the next call reconnects", async () => {
    const events = { aborted: [] as TestServiceMethodName[], started: [] as TestServiceMethodName[] };
    const { port } = await startBridge(events);
    const proxy = await startTcpProxy(port);
    cleanups.push(() => proxy.close());
    const { transport, opened, states } = transportFor(proxy.url());
    const client = createClient(TestService, transport);

    const input = pushable<StreamingOutputCallRequest>();
    const responses = client.fullDuplexCall(input)[Symbol.asyncIterator]();
    input.push(request(3));
    expect((await responses.next()).value?.payload?.body.length).toBe(3);
    const unary = client.emptyCall({});
    await waitFor(() => events.started.includes("EmptyCall"), 2000, "the unary handler to start");

    proxy.cut();
    await expect(responses.next()).rejects.toMatchObject({ code: Code.Unavailable });
    await expect(unary).rejects.toMatchObject({ code: Code.Unavailable });
    await waitFor(
      () => events.aborted.includes("FullDuplexCall") && events.aborted.includes("EmptyCall"),
      2000,
      "the handlers' signals to abort",
    );
    expect(transport.state).toBe("idle");

    const res = await client.unaryCall({ responseSize: 5 });
    expect(res.payload?.body.length).toBe(5);
    expect(opened()).toBe(2);
    expect(states).toEqual(["connecting", "open", "idle", "connecting", "open"]);
  });

  it("backs off while the server is down and connects once it is back", async () => {
    const port = await freePort();
    const { transport, opened, states } = transportFor(`ws://127.0.0.1:${port}/`, {
      reconnect: { initialDelayMs: 100, multiplier: 2, jitter: 0, maxDelayMs: 1000 },
    });
    const client = createClient(TestService, transport);
    const first = await client.unaryCall({}).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(ConnectError);
    expect((first as ConnectError).code).toBe(Code.Unavailable);
    expect(transport.state).toBe("backoff");
    // A call during the backoff waits for the next attempt, which fails too.
    await expect(client.unaryCall({})).rejects.toMatchObject({ code: Code.Unavailable });
    expect(opened()).toBe(2);
    expect(states).toEqual(["connecting", "backoff", "connecting", "backoff"]);

    const events = { aborted: [] as TestServiceMethodName[], started: [] as TestServiceMethodName[] };
    await startBridge(events, port);
    const res = await client.unaryCall({ responseSize: 7 });
    expect(res.payload?.body.length).toBe(7);
    expect(transport.state).toBe("open");
    expect(states.slice(-2)).toEqual(["connecting", "open"]);
  });

  it("connect() opens eagerly and rejects with Unavailable when the server is down", async () => {
    const events = { aborted: [] as TestServiceMethodName[], started: [] as TestServiceMethodName[] };
    const { port } = await startBridge(events);
    const { transport, opened } = transportFor(`ws://127.0.0.1:${port}/`);
    expect(transport.state).toBe("idle");
    await transport.connect();
    expect(transport.state).toBe("open");
    expect(opened()).toBe(1);

    const down = transportFor(`ws://127.0.0.1:${await freePort()}/`);
    await expect(down.transport.connect()).rejects.toMatchObject({ code: Code.Unavailable });
  });
});

describe("deadlines, cancellation and close", () => {
  it("fails with DeadlineExceeded on its own when the server is silent, and resets the stream", async () => {
    const resets: number[] = [];
    const timeouts: string[] = [];
    const server = await startRawServer((ws) => {
      serveSession(ws, {
        onStream(stream: Stream, _path: string, headers: Metadata) {
          timeouts.push(String(getMetadata(headers, GRPC_TIMEOUT)));
          stream.events = { onReset: (code) => resets.push(code) };
        },
      });
    });
    cleanups.push(() => server.close());
    const { transport } = transportFor(server.url);
    const client = createClient(TestService, transport);
    await expect(client.emptyCall({}, { timeoutMs: 150 })).rejects.toMatchObject({ code: Code.DeadlineExceeded });
    await waitFor(() => resets.length === 1, 1000, "RST_STREAM at the server");
    expect(resets).toEqual([ErrorCode.CANCEL]);
    expect(timeouts[0]).toMatch(/^\d+m$/);
    expect(Number.parseInt(timeouts[0]!, 10)).toBeLessThanOrEqual(150);
  });

  it("abort fails the call with Canceled and aborts the handler", async () => {
    const events = { aborted: [] as TestServiceMethodName[], started: [] as TestServiceMethodName[] };
    const { port } = await startBridge(events);
    const { transport } = transportFor(`ws://127.0.0.1:${port}/`);
    const client = createClient(TestService, transport);
    const abort = new AbortController();
    const call = client.emptyCall({}, { signal: abort.signal });
    await waitFor(() => events.started.includes("EmptyCall"), 2000, "the handler to start");
    abort.abort();
    await expect(call).rejects.toMatchObject({ code: Code.Canceled });
    await waitFor(() => events.aborted.includes("EmptyCall"), 2000, "the handler's signal to abort");
    // An already aborted signal fails at once, without a stream.
    await expect(client.unaryCall({}, { signal: abort.signal })).rejects.toMatchObject({ code: Code.Canceled });
    // The connection is fine.
    expect((await client.unaryCall({ responseSize: 1 })).payload?.body.length).toBe(1);
  });

  it("close() fails calls in flight and every later call with Unavailable 'transport closed'", async () => {
    const events = { aborted: [] as TestServiceMethodName[], started: [] as TestServiceMethodName[] };
    const { port } = await startBridge(events);
    const { transport, states } = transportFor(`ws://127.0.0.1:${port}/`);
    const client = createClient(TestService, transport);
    const inFlight = client.emptyCall({});
    const inFlightOutcome = expect(inFlight).rejects.toMatchObject({ code: Code.Unavailable });
    await waitFor(() => events.started.includes("EmptyCall"), 2000, "the handler to start");
    await transport.close();
    await inFlightOutcome;
    await expect(inFlight).rejects.toMatchObject({ code: Code.Unavailable, rawMessage: "transport closed" });
    await expect(client.unaryCall({})).rejects.toMatchObject({
      code: Code.Unavailable,
      rawMessage: "transport closed",
    });
    await expect(transport.connect()).rejects.toMatchObject({ code: Code.Unavailable });
    expect(states.at(-1)).toBe("closed");
    await waitFor(() => events.aborted.includes("EmptyCall"), 2000, "the handler's signal to abort");
  });

  it("keepalive detects a peer that never answers PING and fails calls with Unavailable", async () => {
    const server = await startRawServer((ws) => ws.send(settingsFrame())); // SETTINGS, then silence
    cleanups.push(() => server.close());
    const { transport } = transportFor(server.url, { keepalive: { intervalMs: 50, timeoutMs: 100 } });
    const client = createClient(TestService, transport);
    const err = await client.emptyCall({}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.Unavailable);
    expect((err as ConnectError).rawMessage).toMatch(/keepalive/);
  });

  it("a connect timeout fails waiting calls with Unavailable", async () => {
    const server = await startRawServer(() => {}); // accepts the WebSocket, never sends SETTINGS
    cleanups.push(() => server.close());
    const { transport } = transportFor(server.url, { connectTimeoutMs: 100 });
    const client = createClient(TestService, transport);
    await expect(client.emptyCall({})).rejects.toMatchObject({ code: Code.Unavailable });
    expect(transport.state).toBe("backoff");
  });
});

describe("server behaviour seen through a raw session", () => {
  it("GOAWAY: streams above last-stream-id are retried on a new connection (transparent retry); older ones finish on the old one", async () => {
    const streams: Stream[] = [];
    const server = await startRawServer((ws) => {
      serveSession(ws, {
        onStream(stream) {
          streams.push(stream);
          stream.events = {};
          if (streams.length === 2) ws.send(goAwayFrame(streams[0]!.id, ErrorCode.NO_ERROR));
        },
      });
    });
    cleanups.push(() => server.close());
    const { transport, opened } = transportFor(server.url);
    const client = createClient(TestService, transport);
    const answer = (s: Stream) => {
      s.sendHeaders([]);
      s.write(new Uint8Array(0));
      s.sendTrailers(createTrailers(Status.OK));
    };
    const older = client.emptyCall({});
    await waitFor(() => streams.length === 1, 2000, "the first stream");
    const newer = client.emptyCall({});
    // The refused stream goes again, on a new connection.
    await waitFor(() => streams.length === 3, 2000, "the retried stream on a new connection");
    answer(streams[2]!);
    await expect(newer).resolves.toEqual(create(EmptySchema, {}));
    // The older stream is still served on the draining connection.
    answer(streams[0]!);
    await expect(older).resolves.toEqual(create(EmptySchema, {}));
    // A new call uses the new connection.
    const third = client.emptyCall({}, { timeoutMs: 2000 });
    await waitFor(() => streams.length === 4, 2000, "a stream on the new connection");
    answer(streams[3]!);
    await third;
    expect(opened()).toBe(2);
  });

  it("maps RST_STREAM codes and rejects extra or missing unary responses", async () => {
    const plan: Array<(s: Stream) => void> = [
      // Refused streams are retried transparently; the call fails only when every attempt was refused.
      ...Array.from({ length: 1 + MAX_TRANSPARENT_RETRIES }, () => (s: Stream) => s.reset(ErrorCode.REFUSED_STREAM)),
      (s) => s.reset(ErrorCode.ENHANCE_YOUR_CALM),
      (s) => s.reset(ErrorCode.INADEQUATE_SECURITY),
      (s) => s.reset(ErrorCode.CANCEL),
      (s) => s.reset(ErrorCode.INTERNAL_ERROR),
      (s) => {
        s.sendHeaders([]);
        s.write(new Uint8Array(0));
        s.write(new Uint8Array(0));
        s.sendTrailers(createTrailers(Status.OK));
      },
      (s) => {
        s.sendHeaders([]);
        s.sendTrailers(createTrailers(Status.OK));
      },
      (s) => s.sendTrailers([]), // no grpc-status
    ];
    let n = 0;
    const server = await startRawServer((ws) => {
      serveSession(ws, {
        onStream(stream) {
          stream.events = {};
          plan[n++]!(stream);
        },
      });
    });
    cleanups.push(() => server.close());
    const { transport } = transportFor(server.url);
    const client = createClient(TestService, transport);
    const codes: Code[] = [];
    for (let i = 0; i < plan.length - MAX_TRANSPARENT_RETRIES; i++) {
      const err = await client.emptyCall({}).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectError);
      codes.push((err as ConnectError).code);
    }
    expect(codes).toEqual([
      Code.Unavailable,
      Code.ResourceExhausted,
      Code.PermissionDenied,
      Code.Canceled,
      Code.Internal,
      Code.Unimplemented,
      Code.Unimplemented,
      Code.Unknown, // trailers without grpc-status: UNKNOWN, as docs/PROTOCOL.md section 2.4 says
    ]);
    expect(n).toBe(plan.length);
  });

  it("queues calls beyond the server's maxConcurrentStreams", async () => {
    let active = 0;
    let peak = 0;
    const server = await startRawServer((ws) => {
      serveSession(ws, {
        settings: { maxConcurrentStreams: 2 },
        onStream(stream) {
          peak = Math.max(peak, ++active);
          stream.events = {};
          setTimeout(() => {
            active--;
            stream.sendHeaders([]);
            stream.write(new Uint8Array(0));
            stream.sendTrailers(createTrailers(Status.OK));
          }, 10);
        },
      });
    });
    cleanups.push(() => server.close());
    const { transport, opened } = transportFor(server.url);
    const client = createClient(TestService, transport);
    await Promise.all(Array.from({ length: 10 }, () => client.emptyCall({})));
    expect(peak).toBe(2);
    expect(opened()).toBe(1);
  });
});

// Edge cases of one call's life: late consumers, broken request iterables, early return(),
// request backpressure, deadlines beyond setTimeout's range, listener cleanup.
import { getEventListeners } from "node:events";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createTestServiceImpl } from "@grpc-ws/interop";
import { createWebSocketBridge } from "@grpc-ws/server";
import {
  CloseCode,
  ErrorCode,
  GRPC_TIMEOUT,
  Status,
  createTrailers,
  getMetadata,
  type Metadata,
  type Stream,
} from "@grpc-ws/wire";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket as WsWebSocket } from "ws";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type {
  StreamingInputCallRequestSchema,
  StreamingOutputCallRequest,
} from "../../../gen/grpc/testing/messages_pb.js";
import { TestService } from "../../../gen/grpc/testing/test_pb.js";
import { serveSession, settingsFrame, startRawServer, waitFor, type RawServer } from "./client.test-util.js";
import { createWebSocketTransport, type WebSocketTransport } from "./index.js";
import type { WebSocketConstructor } from "./websocket.js";

type InputInit = MessageInitShape<typeof StreamingInputCallRequestSchema>;

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function transportFor(url: string, interceptors?: Interceptor[]): WebSocketTransport {
  const transport = createWebSocketTransport({ url, interceptors });
  cleanups.push(() => transport.close());
  return transport;
}

/** A raw grpc-ws server, closed after the test. */
async function rawServer(onConnection: Parameters<typeof startRawServer>[0]): Promise<RawServer> {
  const server = await startRawServer(onConnection);
  cleanups.push(() => server.close());
  return server;
}

/** A raw server that records the RST_STREAM codes of its streams; `onStream` may answer them. */
async function resetRecordingServer(onStream?: (stream: Stream) => void): Promise<{ url: string; resets: number[] }> {
  const resets: number[] = [];
  const server = await rawServer((ws) => {
    serveSession(ws, {
      onStream(stream: Stream) {
        stream.events = { onReset: (code) => resets.push(code) };
        onStream?.(stream);
      },
    });
  });
  return { url: server.url, resets };
}

async function bridgeUrl(
  impl: Parameters<typeof createTestServiceImpl>[0] = {},
  overrides: object = {},
): Promise<string> {
  const bridge = createWebSocketBridge({
    routes: (r) => r.service(TestService, { ...createTestServiceImpl(impl), ...overrides }),
  });
  const { url } = await bridge.listen({ port: 0 });
  cleanups.push(() => bridge.close({ drainTimeoutMs: 0 }));
  return url;
}

/** Records unhandled promise rejections while `fn` runs (plus a few event-loop turns after it). */
async function unhandledRejectionsDuring(fn: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const onRejection = (reason: unknown) => seen.push(reason);
  process.on("unhandledRejection", onRejection);
  try {
    await fn();
    await new Promise((r) => setTimeout(r, 20));
  } finally {
    process.off("unhandledRejection", onRejection);
  }
  return seen;
}

describe("streaming responses", () => {
  it("a call that fails before the consumer starts iterating leaves no unhandled rejection", async () => {
    const url = await bridgeUrl(
      {},
      {
        async *streamingOutputCall() {
          throw new ConnectError("refused early", Code.FailedPrecondition);
        },
      },
    );
    // An async interceptor returns a promise of its own, which must not be unhandled either.
    const passThrough: Interceptor = (next) => async (req) => await next(req);
    for (const interceptors of [undefined, [passThrough]]) {
      const client = createClient(TestService, transportFor(url, interceptors));
      const seen = await unhandledRejectionsDuring(async () => {
        // Connect's client awaits the transport's response only once iteration starts.
        const responses = client.streamingOutputCall({})[Symbol.asyncIterator]();
        await new Promise((r) => setTimeout(r, 100));
        await expect(responses.next()).rejects.toMatchObject({
          code: Code.FailedPrecondition,
          rawMessage: "refused early",
        });
      });
      expect(seen).toEqual([]);
    }
  });

  it("return() on the transport's response iterator resets the stream with CANCEL and ends iteration", async () => {
    const { url, resets } = await resetRecordingServer((stream) => stream.sendHeaders([]));
    async function* requests(): AsyncGenerator<StreamingOutputCallRequest> {
      await new Promise(() => {}); // never yields
    }
    const transport = transportFor(url);
    const res = await transport.stream(
      TestService.method.fullDuplexCall,
      undefined,
      undefined,
      undefined,
      requests(),
      undefined,
    );
    const it = res.message[Symbol.asyncIterator]();
    await expect(it.return!()).resolves.toEqual({ done: true, value: undefined });
    await waitFor(() => resets.length === 1, 2000, "RST_STREAM at the server");
    expect(resets).toEqual([ErrorCode.CANCEL]);
    // The iterator protocol: after return(), next() reports the end rather than an error.
    await expect(it.next()).resolves.toEqual({ done: true, value: undefined });
  });
});

describe("request iterables", () => {
  it("an iterable that cannot be iterated fails only its own call, not the connection", async () => {
    const url = await bridgeUrl();
    const client = createClient(TestService, transportFor(url));
    const broken = {
      [Symbol.asyncIterator](): AsyncIterator<InputInit> {
        throw new Error("no iterator today");
      },
    };
    // Both calls are queued until the connection opens, so both start from the SETTINGS handler.
    const good = client.unaryCall({ responseSize: 3 });
    const bad = client.streamingInputCall(broken);
    await expect(bad).rejects.toMatchObject({ code: Code.Unknown, rawMessage: "no iterator today" });
    expect((await good).payload?.body.length).toBe(3);
  });

  it("an iterable that throws fails the call with its error and resets the stream", async () => {
    const { url, resets } = await resetRecordingServer();
    async function* requests(): AsyncGenerator<InputInit> {
      yield {};
      await new Promise((r) => setTimeout(r, 10));
      throw new ConnectError("the producer broke", Code.DataLoss);
    }
    const client = createClient(TestService, transportFor(url));
    await expect(client.streamingInputCall(requests())).rejects.toMatchObject({
      code: Code.DataLoss,
      rawMessage: "the producer broke",
    });
    await waitFor(() => resets.length === 1, 2000, "RST_STREAM at the server");
    expect(resets).toEqual([ErrorCode.CANCEL]);
  });

  it("a producer faster than the server's window is paused, not buffered, and closed when the call ends", async () => {
    const MESSAGE = 10_000;
    const server = await rawServer((ws) => {
      // The server never reads, so it never returns credit: only its 16 KiB stream window gets through.
      serveSession(ws, {
        settings: { initialStreamWindow: 16 * 1024 },
        onStream: (stream) => void (stream.events = {}),
      });
    });
    let yielded = 0;
    let closed = false;
    async function* requests(): AsyncGenerator<InputInit> {
      try {
        for (; yielded < 1000; ) {
          yielded++;
          yield { payload: { body: new Uint8Array(MESSAGE) } };
        }
      } finally {
        closed = true;
      }
    }
    const abort = new AbortController();
    const client = createClient(TestService, transportFor(server.url));
    const call = client.streamingInputCall(requests(), { signal: abort.signal });
    let last = -1;
    await waitFor(
      () => {
        const stable = yielded === last && yielded > 1;
        last = yielded;
        return stable;
      },
      3000,
      "the producer to be paused",
    );
    await new Promise((r) => setTimeout(r, 50));
    // 16 KiB window + 64 KiB outbound high-water mark: about 8 messages, not 1000.
    expect(yielded).toBeLessThanOrEqual(12);
    abort.abort();
    await expect(call).rejects.toMatchObject({ code: Code.Canceled });
    await waitFor(() => closed, 1000, "the request generator to be closed");
  });
});

describe("deadlines and signals", () => {
  it("a deadline beyond setTimeout's 2^31-1 ms range is sent and does not fire at once", async () => {
    const timeouts: string[] = [];
    const server = await rawServer((ws) => {
      serveSession(ws, {
        onStream(stream: Stream, _path: string, headers: Metadata) {
          timeouts.push(String(getMetadata(headers, GRPC_TIMEOUT)));
          stream.events = {};
          // Answer a little later, so that a timer that fires at once would win.
          setTimeout(() => {
            stream.sendHeaders([]);
            stream.write(new Uint8Array(0));
            stream.sendTrailers(createTrailers(Status.OK));
          }, 30);
        },
      });
    });
    const client = createClient(TestService, transportFor(server.url));
    await expect(client.emptyCall({}, { timeoutMs: 2 ** 31 })).resolves.toBeDefined();
    await expect(client.emptyCall({}, { timeoutMs: Infinity })).resolves.toBeDefined();
    expect(timeouts[0]).toBe("2147484S");
    expect(timeouts[1]).toBe("undefined"); // no deadline
  });

  it("removes its abort listener when the call ends, however it ends", async () => {
    const url = await bridgeUrl();
    const client = createClient(TestService, transportFor(url));
    const abort = new AbortController();
    const listeners = () => getEventListeners(abort.signal, "abort").length;
    const pending = client.unaryCall({ responseSize: 1 }, { signal: abort.signal });
    expect(listeners()).toBe(1);
    await pending;
    expect(listeners()).toBe(0);
    await expect(
      client.unaryCall({ responseStatus: { code: Code.NotFound, message: "x" } }, { signal: abort.signal }),
    ).rejects.toMatchObject({ code: Code.NotFound });
    await client.emptyCall({}, { signal: abort.signal, timeoutMs: 1 }).catch(() => {}); // either outcome
    for await (const _ of client.streamingOutputCall({ responseParameters: [{ size: 1 }] }, { signal: abort.signal })) {
      // drain
    }
    expect(listeners()).toBe(0);
  });
});

describe("the socket", () => {
  it("a text message from the server closes the connection with 1003 (unsupported data)", async () => {
    const closeCodes: number[] = [];
    const server = await rawServer((ws) => {
      ws.on("close", (code) => closeCodes.push(code));
      ws.send(settingsFrame());
      ws.on("message", () => ws.send("not binary"));
    });
    // `ws` explicitly: Node >= 22's global WebSocket, like a browser's, lets a script close only
    // with 1000 or 3000-4999, so there the client falls back to 1000.
    const transport = createWebSocketTransport({
      url: server.url,
      webSocket: WsWebSocket as unknown as WebSocketConstructor,
    });
    cleanups.push(() => transport.close());
    const client = createClient(TestService, transport);
    await expect(client.emptyCall({})).rejects.toMatchObject({ code: Code.Unavailable });
    await waitFor(() => closeCodes.length === 1, 2000, "the socket to close");
    expect(closeCodes).toEqual([CloseCode.UNSUPPORTED_DATA]);
  });
});

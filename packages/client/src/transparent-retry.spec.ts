import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createTestServiceImpl } from "@grpc-ws/interop";
import { createWebSocketBridge } from "@grpc-ws/server";
import { ErrorCode, Status, createTrailers, type Stream } from "@grpc-ws/wire";
import { afterEach, describe, expect, it } from "vitest";
import { StreamingInputCallRequestSchema } from "../../../gen/grpc/testing/messages_pb.js";
import { TestService } from "../../../gen/grpc/testing/test_pb.js";
import { countingWebSocket, goAwayFrame, serveSession, startRawServer, waitFor } from "./client.test-util.js";
import { createWebSocketTransport } from "./index.js";
import { MAX_TRANSPARENT_RETRIES, REPLAY_LIMIT_BYTES } from "./transparent-retry.js";

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A raw grpc-ws server: each stream is handed to `plan` with its number (0-based) and the request messages so far. */
async function rawServer(plan: (stream: Stream, n: number, ws: import("ws").WebSocket) => void) {
  const streams: Stream[] = [];
  const server = await startRawServer((ws) => {
    serveSession(ws, {
      onStream(stream) {
        streams.push(stream);
        stream.events = {};
        plan(stream, streams.length - 1, ws);
      },
    });
  });
  cleanups.push(() => server.close());
  const counting = countingWebSocket();
  const transport = createWebSocketTransport({ url: server.url, webSocket: counting.ctor, keepalive: false });
  cleanups.push(() => transport.close());
  return { streams, opened: counting.opened, client: createClient(TestService, transport) };
}

function answer(stream: Stream, message = new Uint8Array(0)): void {
  stream.sendHeaders([]);
  stream.write(message);
  stream.sendTrailers(createTrailers(Status.OK));
}

/** All request messages of a stream once the client half-closed. */
async function requestsOf(stream: Stream): Promise<Uint8Array[]> {
  await waitFor(() => stream.remoteEnded || stream.closed, 2000, "the client's half-close");
  const out: Uint8Array[] = [];
  for (let m = stream.read(); m !== undefined; m = stream.read()) out.push(m);
  return out;
}

describe("transparent retry (gRFC A6)", () => {
  it("GOAWAY race: two calls in flight, GOAWAY covers only the first; the second is re-sent on a new connection and both succeed", async () => {
    const { client, streams, opened } = await rawServer((stream, n, ws) => {
      if (n === 1) ws.send(goAwayFrame(streams[0]!.id, ErrorCode.NO_ERROR));
      if (n === 2) answer(stream);
    });
    const first = client.emptyCall({});
    const second = client.emptyCall({});
    await waitFor(() => streams.length === 3, 2000, "the retried stream");
    answer(streams[0]!);
    await expect(Promise.all([first, second])).resolves.toHaveLength(2);
    expect(opened()).toBe(2);
    // The retried stream is the first one of the new connection.
    expect(streams[2]!.id).toBe(1);
  });

  it("a refused client stream is replayed: every message sent before the refusal, in order, and the half-close", async () => {
    const { client, streams } = await rawServer((stream, n) => {
      if (n === 0) void requestsOf(stream).then(() => stream.reset(ErrorCode.REFUSED_STREAM));
    });
    async function* requests() {
      for (let i = 1; i <= 3; i++)
        yield create(StreamingInputCallRequestSchema, { payload: { body: new Uint8Array(i) } });
    }
    const call = client.streamingInputCall(requests());
    await waitFor(() => streams.length === 2, 2000, "the retried stream");
    const replayed = await requestsOf(streams[1]!);
    // payload { body: i bytes }: 2 bytes of tag and length around 2 + i.
    expect(replayed.map((m) => m.length)).toEqual([5, 6, 7]);
    expect(replayed.map((m) => m.at(-1))).toEqual([0, 0, 0]);
    answer(streams[1]!, new Uint8Array([0x08, 6]));
    expect((await call).aggregatedPayloadSize).toBe(6);
  });

  it("a stream the server may have seen is not retried: covered by GOAWAY, then the connection drops", async () => {
    const { client, streams } = await rawServer((_stream, n, ws) => {
      if (n === 0) {
        ws.send(goAwayFrame(1, ErrorCode.NO_ERROR));
        setTimeout(() => ws.terminate(), 20);
      }
    });
    const error = await client.emptyCall({}).catch((e: unknown) => ConnectError.from(e));
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.Unavailable);
    expect(streams).toHaveLength(1);
  });

  it("other resets are not retried", async () => {
    const { client, streams } = await rawServer((stream) => stream.reset(ErrorCode.CANCEL));
    await expect(client.emptyCall({})).rejects.toMatchObject({ code: Code.Canceled });
    expect(streams).toHaveLength(1);
  });

  it("a server that always refuses: the call fails with Unavailable after 1 + MAX_TRANSPARENT_RETRIES attempts", async () => {
    const { client, streams } = await rawServer((stream) => stream.reset(ErrorCode.REFUSED_STREAM));
    await expect(client.emptyCall({})).rejects.toMatchObject({ code: Code.Unavailable });
    expect(streams).toHaveLength(1 + MAX_TRANSPARENT_RETRIES);
  });

  it("a client stream that sent more than REPLAY_LIMIT_BYTES before the refusal is not retried", async () => {
    const { client, streams } = await rawServer(
      (stream) => void requestsOf(stream).then(() => stream.reset(ErrorCode.REFUSED_STREAM)),
    );
    async function* requests() {
      for (let i = 0; i < 3; i++)
        yield create(StreamingInputCallRequestSchema, { payload: { body: new Uint8Array(REPLAY_LIMIT_BYTES / 2) } });
    }
    await expect(client.streamingInputCall(requests())).rejects.toMatchObject({ code: Code.Unavailable });
    expect(streams).toHaveLength(1);
  });

  it("a real bridge draining connections every 50 ms under a steady load of calls: no call fails", async () => {
    let served = 0;
    const bridge = createWebSocketBridge({
      routes: (r) => r.service(TestService, createTestServiceImpl()),
      maxConnectionAge: { maxAgeMs: 50, jitter: 0 },
      onCallEnd: () => served++,
    });
    const { url } = await bridge.listen();
    cleanups.push(() => bridge.close({ drainTimeoutMs: 100 }));
    const counting = countingWebSocket();
    const transport = createWebSocketTransport({ url, webSocket: counting.ctor });
    cleanups.push(() => transport.close());
    const client = createClient(TestService, transport);
    const started = Date.now();
    let ok = 0;
    // Eight calls at a time for 1.5 s (bounded in count too).
    while (Date.now() - started < 1_500 && ok < 20_000) {
      await Promise.all(Array.from({ length: 8 }, () => client.emptyCall({})));
      ok += 8;
    }
    expect(ok).toBeGreaterThan(0);
    expect(counting.opened()).toBeGreaterThan(5);
    // Each call ran its handler exactly once.
    await waitFor(() => served === ok, 2000, "every call to end on the bridge");
  });
});

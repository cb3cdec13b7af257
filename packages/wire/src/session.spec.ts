import { afterEach, describe, expect, test } from "vitest";
import { CloseCode, ErrorCode, MAX_STREAM_ID } from "./constants.js";
import { MessageError } from "./message.js";
import { connect, scripted, tick, until, hex } from "./session-harness.test-util.js";
import type { SessionClosedError } from "./errors.js";
import type { Session } from "./session.js";
import { Status } from "./status.js";
import type { Stream } from "./stream.js";
import { createTrailers, parseTrailers } from "./trailers.js";
import type { Metadata } from "./metadata.js";

const opened: Session[] = [];
afterEach(() => {
  for (const s of opened.splice(0))
    s.close({ message: "test over", code: 0, remote: false, name: "SessionClosedError" } as SessionClosedError, 0);
});

async function pair(...args: Parameters<typeof connect>) {
  const p = await connect(...args);
  opened.push(p.client, p.server);
  return p;
}

// A server that echoes every message back and ends with OK once the client half-closes.
function echo(stream: Stream): void {
  let headersSent = false;
  stream.events = {
    onReadable() {
      if (!headersSent) {
        headersSent = true;
        stream.sendHeaders([["x-echo", "1"]]);
      }
      let m: Uint8Array | undefined;
      while ((m = stream.read())) stream.write(m);
      if (stream.remoteEnded) stream.sendTrailers(createTrailers(Status.OK, "", [["x-t", "done"]]));
    },
  };
}

interface CallResult {
  headers?: Metadata;
  messages: Uint8Array[];
  trailers?: Metadata;
  reset?: { code: number; error: Error };
  order: string[];
}

function call(
  client: Session,
  path: string,
  messages: Uint8Array[],
  headers: Metadata = [],
): { stream: Stream; done: Promise<CallResult> } {
  const result: CallResult = { messages: [], order: [] };
  let stream!: Stream;
  const done = new Promise<CallResult>((resolve) => {
    stream = client.openStream(path, headers, {
      onHeaders(h) {
        result.headers = h;
        result.order.push("headers");
      },
      onReadable() {
        let m: Uint8Array | undefined;
        while ((m = stream.read())) {
          result.messages.push(m.slice());
          result.order.push("message");
        }
      },
      onTrailers(t) {
        result.trailers = t;
        result.order.push("trailers");
        resolve(result);
      },
      onReset(code, error) {
        result.reset = { code, error };
        resolve(result);
      },
    });
  });
  for (const m of messages) stream.write(m);
  stream.halfClose();
  return { stream, done };
}

describe("Session: exchanges between two sessions", () => {
  test("SETTINGS go first both ways and carry each side's settings", async () => {
    const { client, server, wire } = await pair(
      { settings: { maxMessageSize: 1000 } },
      { settings: { maxConcurrentStreams: 5 } },
    );
    expect(wire.frames("client")[0]!.type).toBe("SETTINGS");
    expect(wire.frames("server")[0]!.type).toBe("SETTINGS");
    expect(server.peer!.maxMessageSize).toBe(1000);
    expect(client.peer!.maxConcurrentStreams).toBe(5);
    expect(client.canOpenStream).toBe(true);
  });

  test("a client cannot open a stream before the server's SETTINGS arrived; a server never opens one", async () => {
    const { session } = scripted({ role: "client" });
    expect(session.canOpenStream).toBe(false);
    expect(() => session.openStream("/a/b", [])).toThrow(/canOpenStream/);
    const { session: server } = scripted({ role: "server" });
    expect(() => server.openStream("/a/b", [])).toThrow(/only a client/);
  });

  test("end(lastMessage) sends the message and END_STREAM in one DATA frame", async () => {
    const { client, wire } = await pair({}, { onStream: (stream) => echo(stream) });
    const got: Uint8Array[] = [];
    await new Promise<void>((resolve, reject) => {
      const s = client.openStream("/pkg.Svc/Unary", [], {
        onReadable: () => {
          let m: Uint8Array | undefined;
          while ((m = s.read())) got.push(m.slice());
        },
        onTrailers: () => resolve(),
        onReset: (_code, e) => reject(e),
      });
      s.halfClose(new Uint8Array([7, 8]));
    });
    expect(got).toEqual([new Uint8Array([7, 8])]);
    const data = wire.frames("client").filter((f) => f.streamId === 1 && f.type === "DATA");
    expect(data.map((f) => [f.flags, [...f.payload]])).toEqual([[1, [0, 0, 0, 0, 2, 7, 8]]]);
  });

  test("unary call: HEADERS (:path, metadata), DATA, END_STREAM; response HEADERS, DATA, TRAILERS", async () => {
    const seen: Array<{ path: string; headers: Metadata; endStream: boolean }> = [];
    const { client, server, wire } = await pair(
      {},
      {
        onStream(stream, path, headers, endStream) {
          seen.push({ path, headers, endStream });
          echo(stream);
        },
      },
    );
    const { done } = call(
      client,
      "/pkg.Svc/Unary",
      [new Uint8Array([1, 2, 3])],
      [
        ["authorization", "Bearer x"],
        ["t-bin", new Uint8Array([0, 255])],
      ],
    );
    const r = await done;
    expect(seen).toEqual([
      {
        path: "/pkg.Svc/Unary",
        headers: [
          ["authorization", "Bearer x"],
          ["t-bin", new Uint8Array([0, 255])],
        ],
        endStream: false,
      },
    ]);
    expect(r.order).toEqual(["headers", "message", "trailers"]);
    expect(r.headers).toEqual([["x-echo", "1"]]);
    expect(r.messages).toEqual([new Uint8Array([1, 2, 3])]);
    expect(parseTrailers(r.trailers!)).toMatchObject({ code: Status.OK, metadata: [["x-t", "done"]] });
    const c = wire.frames("client").filter((f) => f.streamId === 1);
    // write() frames at once; end() after it adds an empty DATA frame with END_STREAM.
    expect(c.map((f) => [f.type, f.flags, [...f.payload]])).toEqual([
      ["HEADERS", 0, [...c[0]!.payload]],
      ["DATA", 0, [0, 0, 0, 0, 3, 1, 2, 3]],
      ["DATA", 1, []],
    ]);
    expect(c[0]!.metadata![0]).toEqual([":path", "/pkg.Svc/Unary"]);
    const s = wire.frames("server").filter((f) => f.streamId === 1);
    expect(s.map((f) => f.type)).toEqual(["HEADERS", "DATA", "TRAILERS"]);
    expect(s[1]!.flags).toBe(0);
    await until(() => client.activeStreams === 0 && server.activeStreams === 0, "stream tables to empty");
    await client.whenIdle();
  });

  test("HEADERS with END_STREAM and trailers-only response", async () => {
    const { client } = await pair(
      {},
      {
        onStream(stream, _path, _headers, endStream) {
          expect(endStream).toBe(true);
          stream.sendTrailers(createTrailers(Status.UNIMPLEMENTED, "no such method \u2603"));
        },
      },
    );
    const result: CallResult = { messages: [], order: [] };
    await new Promise<void>((resolve) => {
      client.openStream(
        "/x.Y/Z",
        [],
        { onHeaders: () => result.order.push("headers"), onTrailers: (t) => ((result.trailers = t), resolve()) },
        true,
      );
    });
    expect(result.order).toEqual([]);
    expect(parseTrailers(result.trailers!)).toMatchObject({
      code: Status.UNIMPLEMENTED,
      message: "no such method \u2603",
    });
  });

  test("many concurrent bidi streams interleave and each gets its own messages back", async () => {
    const { client } = await pair({}, { onStream: echo });
    const calls = Array.from({ length: 20 }, (_, i) =>
      call(
        client,
        `/s/${i}`,
        Array.from({ length: 5 }, (_, j) => new Uint8Array(100 * j).fill(i)),
      ),
    );
    const results = await Promise.all(calls.map((c) => c.done));
    results.forEach((r, i) => {
      expect(r.messages.map((m) => m.length)).toEqual([0, 100, 200, 300, 400]);
      expect(r.messages.every((m) => m.every((b) => b === i))).toBe(true);
    });
    expect(calls.map((c) => c.stream.id)).toEqual(Array.from({ length: 20 }, (_, i) => 2 * i + 1));
  });

  test("client reset: RST_STREAM CANCEL reaches the server stream; server reset reaches the client", async () => {
    const serverResets: number[] = [];
    const serverStreams: Stream[] = [];
    const { client } = await pair(
      {},
      {
        onStream(stream) {
          serverStreams.push(stream);
          stream.events = { onReset: (code) => serverResets.push(code) };
        },
      },
    );
    const a = call(client, "/a/a", [new Uint8Array(1)]);
    await until(() => serverStreams.length === 1, "server stream");
    a.stream.reset(ErrorCode.CANCEL);
    await until(() => serverResets.length === 1, "server reset");
    expect(serverResets).toEqual([ErrorCode.CANCEL]);
    const b = call(client, "/b/b", []);
    await until(() => serverStreams.length === 2, "second server stream");
    serverStreams[1]!.reset(ErrorCode.INTERNAL_ERROR);
    const r = await b.done;
    expect(r.reset!.code).toBe(ErrorCode.INTERNAL_ERROR);
  });

  test("writer coalescing: everything written in one tick leaves as one WebSocket message", async () => {
    const { client, wire } = await pair({}, { onStream: echo });
    const before = wire.log.filter((m) => m.from === "client").length;
    for (let i = 0; i < 10; i++) call(client, "/c/c", [new Uint8Array(10), new Uint8Array(20)]);
    await until(() => wire.log.filter((m) => m.from === "client").length > before, "client message");
    const sent = wire.log.filter((m) => m.from === "client").slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.frames.filter((f) => f.type === "HEADERS").map((f) => f.streamId)).toEqual([
      1, 3, 5, 7, 9, 11, 13, 15, 17, 19,
    ]);
    expect(sent[0]!.frames.filter((f) => f.type === "DATA" && f.flags === 1)).toHaveLength(10);
  });

  test("oversize request message: the server ends the call with RESOURCE_EXHAUSTED", async () => {
    let handlerReset: Error | undefined;
    const { client } = await pair(
      {},
      { settings: { maxMessageSize: 100 }, onStream: (s) => (s.events = { onReset: (_c, e) => (handlerReset = e) }) },
    );
    const r = await call(client, "/big/big", [new Uint8Array(101)]).done;
    expect(parseTrailers(r.trailers!).code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(handlerReset).toBeInstanceOf(MessageError);
  });

  test("oversize response message: the client cancels with RST_STREAM and reports RESOURCE_EXHAUSTED", async () => {
    const { client, wire } = await pair({ settings: { maxMessageSize: 100 } }, { onStream: echo });
    const r = await call(client, "/big/big", [new Uint8Array(200)]).done;
    expect(r.reset!.code).toBe(ErrorCode.CANCEL);
    expect((r.reset!.error as MessageError).status).toBe(Status.RESOURCE_EXHAUSTED);
    await until(() => wire.frames("client").some((f) => f.type === "RST_STREAM"), "RST_STREAM");
    expect(wire.frames("client").find((f) => f.type === "RST_STREAM")!.code).toBe(ErrorCode.CANCEL);
  });

  test("request headers over maxMetadataSize: RESOURCE_EXHAUSTED, the connection lives on", async () => {
    const { client } = await pair({}, { settings: { maxMetadataSize: 64 }, onStream: echo });
    const r = await call(client, "/m/m", [], [["k", "v".repeat(100)]]).done;
    expect(parseTrailers(r.trailers!).code).toBe(Status.RESOURCE_EXHAUSTED);
    const ok = await call(client, "/m/m", [new Uint8Array(1)]).done;
    expect(parseTrailers(ok.trailers!).code).toBe(Status.OK);
  });

  test("metadata that cannot be sent throws before the stream takes an id or a slot", async () => {
    const { client } = await pair({}, { settings: { maxFrameSize: 1024 }, onStream: echo });
    expect(() => client.openStream("/a/b", [["Bad Name", "v"]])).toThrow(TypeError);
    expect(() => client.openStream("/a/b", [["k", "\u00e9"]])).toThrow(TypeError);
    expect(() => client.openStream("/a/b", [["k", "v".repeat(2000)]])).toThrow(/max frame size/);
    expect(client.activeStreams).toBe(0);
    const { stream, done } = call(client, "/a/b", []);
    expect(stream.id).toBe(1);
    await done;
    await client.whenIdle();
  });

  test("sendTrailers refuses unsendable trailers synchronously", async () => {
    const errors: unknown[] = [];
    const { client } = await pair(
      {},
      {
        onStream(stream) {
          try {
            stream.sendTrailers([
              ["grpc-status", "0"],
              ["x", "caf\u00e9"],
            ]);
          } catch (e) {
            errors.push(e);
          }
          stream.sendTrailers(createTrailers(Status.INTERNAL, "bad trailer"));
        },
      },
    );
    const r = await call(client, "/t/t", []).done;
    expect(errors[0]).toBeInstanceOf(TypeError);
    expect(parseTrailers(r.trailers!)).toMatchObject({ code: Status.INTERNAL, message: "bad trailer" });
  });
});

describe("Session: GOAWAY, stream limits, keepalive", () => {
  test("GOAWAY: open streams finish, streams above last-stream-id are refused, no new streams", async () => {
    const goaways: number[] = [];
    const { client, server, wire } = await pair({ onGoAway: (last) => goaways.push(last) }, { onStream: echo });
    const first = call(client, "/g/1", []);
    await until(() => wire.frames("server").some((f) => f.streamId === 1), "stream 1 answered by the server");
    const late = call(client, "/g/3", [new Uint8Array(1)]);
    server.goAway(ErrorCode.NO_ERROR, "maintenance");
    const [r1, r3] = await Promise.all([first.done, late.done]);
    expect(parseTrailers(r1.trailers!).code).toBe(Status.OK);
    expect(r3.reset!.code).toBe(ErrorCode.REFUSED_STREAM);
    expect(r3.reset!.error.message).toContain("maintenance");
    expect(goaways).toEqual([1]);
    expect(client.draining).toBe(true);
    expect(client.canOpenStream).toBe(false);
    await until(
      () => wire.frames("server").some((f) => f.type === "RST_STREAM" && f.streamId === 3),
      "refusal of stream 3",
    );
    expect(wire.frames("server").find((f) => f.type === "GOAWAY")).toMatchObject({
      lastStreamId: 1,
      code: 0,
      debug: "maintenance",
    });
    expect(client.closed).toBe(false);
  });

  test("GOAWAY with an error code closes the connection", async () => {
    const closes: SessionClosedError[] = [];
    const { client, server, wire } = await pair({ onClose: (e) => closes.push(e) }, { onStream: echo });
    server.goAway(ErrorCode.ENHANCE_YOUR_CALM, "slow down");
    await until(() => client.closed, "client closed");
    expect(closes[0]!.code).toBe(ErrorCode.ENHANCE_YOUR_CALM);
    expect(closes[0]!.remote).toBe(true);
    expect(wire.closes[0]).toMatchObject({ by: "client", code: CloseCode.NORMAL });
  });

  test("GOAWAY debug text is truncated to fit any peer's MAX_FRAME_SIZE", async () => {
    const { server, wire } = await pair({ settings: { maxFrameSize: 1024 } }, {});
    server.goAway(ErrorCode.NO_ERROR, "\u00e9".repeat(5000));
    await until(() => wire.frames("server").some((f) => f.type === "GOAWAY"), "GOAWAY");
    const g = wire.frames("server").find((f) => f.type === "GOAWAY")!;
    expect(g.length).toBeLessThanOrEqual(8 + 256);
    expect(g.debug!.endsWith("...")).toBe(true);
  });

  test("streams beyond maxConcurrentStreams: the client waits, a server refuses with REFUSED_STREAM", async () => {
    const { client } = await pair({}, { settings: { maxConcurrentStreams: 2 }, onStream: () => {} });
    client.openStream("/a/a", []);
    client.openStream("/a/a", []);
    expect(client.canOpenStream).toBe(false);

    const raw = scripted({ role: "server", settings: { maxConcurrentStreams: 2 }, onStream: () => {} });
    const request = (id: string) => hex(`00000d 01 00 ${id} 0005 00000002 3a70617468 2f61`); // HEADERS, [[":path", "/a"]]
    raw.session.receive(hex("000000 04 00 00000000")); // empty SETTINGS: defaults
    for (const id of ["00000001", "00000003", "00000005"]) raw.session.receive(request(id));
    await tick();
    const rst = raw.frames().filter((f) => f.type === "RST_STREAM");
    expect(rst).toEqual([expect.objectContaining({ streamId: 5, code: ErrorCode.REFUSED_STREAM })]);
    expect(raw.session.activeStreams).toBe(2);
  });

  test("stream ids run out at 2^31-1: then a new connection is needed", async () => {
    const { client } = await pair({}, { onStream: echo });
    (client as unknown as { nextStreamId: number }).nextStreamId = MAX_STREAM_ID;
    const last = call(client, "/l/l", []);
    expect(last.stream.id).toBe(MAX_STREAM_ID);
    expect(client.canOpenStream).toBe(false);
    expect(parseTrailers((await last.done).trailers!).code).toBe(Status.OK);
  });

  test("PING is answered with an ACK carrying the same 8 bytes", async () => {
    const raw = scripted({ role: "server" });
    raw.session.receive(
      hex("000000 04 00 00000000 000008 05 00 00000000 0102030405060708 000008 05 01 00000000 0000000000000000"),
    );
    await tick();
    const pings = raw.frames().filter((f) => f.type === "PING");
    expect(pings).toHaveLength(1);
    expect(pings[0]!.flags).toBe(1);
    expect([...pings[0]!.payload]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  test("keepalive: PINGs keep a live connection open and a dead peer is detected", async () => {
    const closes: SessionClosedError[] = [];
    const { client, wire } = await pair(
      { keepalive: { intervalMs: 30, timeoutMs: 60 }, onClose: (e) => closes.push(e) },
      {},
    );
    await until(() => wire.frames("server").some((f) => f.type === "PING" && f.flags === 1), "PING ACK", 2000);
    expect(wire.frames("client").some((f) => f.type === "PING" && f.flags === 0)).toBe(true);
    await new Promise((r) => setTimeout(r, 150));
    expect(client.closed).toBe(false);
    wire.blackhole.server = true;
    await until(() => client.closed, "keepalive timeout", 2000);
    expect(closes[0]!.message).toContain("keepalive timeout");
    expect(wire.closes[0]).toMatchObject({ by: "client", code: CloseCode.GOING_AWAY });
  });

  test("keepalive: a connection that streamed and went idle holds the small slab again", async () => {
    // The client's writer copies (as a Node `ws` client or a browser does), so nothing holds its slab.
    const { client } = await pair(
      { keepalive: { intervalMs: 20, timeoutMs: 1000 }, writer: { sinkCopies: true } },
      { onStream: echo },
    );
    const messages = Array.from({ length: 16 }, (_, i) => new Uint8Array(16 * 1024).fill(i));
    const result = await call(client, "/x/x", messages).done;
    expect(result.messages).toHaveLength(16);
    expect(result.trailers).toBeDefined();
    // 256 KiB sent in one tick: the writer outgrew its first slab.
    const busy = client.bufferBytes;
    expect(busy).toBeGreaterThan(64 * 1024);
    // No stream is open: the next keepalive check lets the slab go; a PING then takes a small one.
    await until(() => client.bufferBytes <= 4 * 1024, "the idle client to trim its framing buffer", 2000);
    expect(client.activeStreams).toBe(0);
    expect(client.bufferBytes).toBeLessThan(busy);
    // Busy again: the writer grows again and the stream still works.
    const again = await call(client, "/x/x", messages.slice(0, 4)).done;
    expect(again.messages.map((m) => m[0])).toEqual([0, 1, 2, 3]);
  });

  test("a session with an open stream keeps its framing buffer on keepalive checks", async () => {
    const { client, server } = await pair(
      { keepalive: { intervalMs: 20, timeoutMs: 1000 }, writer: { sinkCopies: true } },
      { onStream: () => {} },
    );
    const { stream } = call(client, "/x/x", [new Uint8Array(100 * 1024)]);
    await until(() => server.activeStreams === 1 && stream.pendingBytes === 0, "the request sent");
    const held = client.bufferBytes;
    expect(held).toBeGreaterThan(64 * 1024);
    // Several keepalive checks (20 ms apart) pass with the stream open: the buffer stays.
    await new Promise((r) => setTimeout(r, 120));
    expect(client.activeStreams).toBe(1);
    expect(client.bufferBytes).toBe(held);
  });

  test("closing a session resets every open stream", async () => {
    const { client, server } = await pair({}, { onStream: () => {} });
    const r = call(client, "/x/x", []);
    await until(() => server.activeStreams === 1, "server stream");
    server.goAway();
    server.close(
      { name: "SessionClosedError", message: "shutdown", code: 0, remote: false } as SessionClosedError,
      CloseCode.GOING_AWAY,
    );
    const result = await r.done;
    expect(result.reset!.code).toBe(ErrorCode.CANCEL);
    expect(client.closed).toBe(true);
  });
});

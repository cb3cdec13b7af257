// The hostile client's socket for the bridge's fuzz test, and the checks that what the bridge sent
// back is a protocol-conforming answer to what the client sent.
import {
  CloseCode,
  DEFAULT_SETTINGS,
  ErrorCode,
  ErrorCodeName,
  FrameReader,
  FrameType,
  FrameWriter,
  SUBPROTOCOL,
  SettingId,
  Status,
  parseTrailers,
  readMetadata,
} from "@grpc-ws/wire";
import { expect } from "vitest";
import { WebSocket } from "ws";
import type { ClientFacts } from "./fuzz-frames.test-util.js";

/** What the bridge answers when dispatching a call threw: always a bug on our side. */
const FAILED_TO_START = "the server failed to start the call";

/** GOAWAY codes a bridge may close a misbehaving client's connection with. */
const CONNECTION_ERROR_CODES = new Set<number>([
  ErrorCode.PROTOCOL_ERROR,
  ErrorCode.FLOW_CONTROL_ERROR,
  ErrorCode.SETTINGS_TIMEOUT,
  ErrorCode.STREAM_CLOSED,
  ErrorCode.FRAME_SIZE_ERROR,
  ErrorCode.ENHANCE_YOUR_CALM,
]);
/** RST_STREAM codes a bridge may answer a misbehaving stream with. */
const STREAM_ERROR_CODES = new Set<number>([
  ErrorCode.PROTOCOL_ERROR,
  ErrorCode.FLOW_CONTROL_ERROR,
  ErrorCode.STREAM_CLOSED,
  ErrorCode.REFUSED_STREAM,
  ErrorCode.CANCEL,
]);

export interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Uint8Array;
}

/** The hostile client's socket: records every frame and the close the bridge sent. */
export class FuzzPeer {
  readonly frames: Frame[] = [];
  /** Set when the bridge sent bytes that are not valid frames. */
  malformed: Error | undefined;
  closeEvent: { code: number; reason: string } | undefined;
  readonly closed: Promise<void>;
  private readonly reader = new FrameReader(1 << 24);

  private constructor(readonly ws: WebSocket) {
    ws.binaryType = "nodebuffer";
    ws.on("message", (data: Buffer) => {
      try {
        const r = this.reader.reset(new Uint8Array(data.buffer, data.byteOffset, data.length));
        while (r.next())
          this.frames.push({ type: r.type, flags: r.flags, streamId: r.streamId, payload: r.payload.slice() });
      } catch (error) {
        this.malformed ??= error as Error;
      }
    });
    ws.on("error", () => undefined);
    this.closed = new Promise((resolve) =>
      ws.on("close", (code: number, reason: Buffer) => {
        this.closeEvent ??= { code, reason: reason.toString() };
        resolve();
      }),
    );
  }

  static async connect(url: string): Promise<FuzzPeer> {
    const ws = new WebSocket(url, [SUBPROTOCOL], { perMessageDeflate: false });
    const peer = new FuzzPeer(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    return peer;
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Closes from this side (if the bridge has not), cutting the socket if the handshake stalls. */
  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(1000, "fuzz run done");
    const timer = setTimeout(() => this.ws.terminate(), 1000);
    await this.closed;
    clearTimeout(timer);
  }
}

export function ping(payload: Uint8Array): Uint8Array {
  let out = new Uint8Array(0);
  const writer = new FrameWriter((m) => (out = m.slice()), { schedule: () => undefined, sinkCopies: true });
  writer.ping(payload, false);
  writer.flush();
  return out;
}

const u32 = (b: Uint8Array, at: number): number => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(at);

/** Everything the bridge sent must be a protocol-conforming answer to what the client sent. */
export function checkAnswers(peer: FuzzPeer, facts: ClientFacts): void {
  if (peer.malformed) throw new Error(`the bridge sent malformed frames: ${peer.malformed.message}`);
  const frames = peer.frames;
  expect(frames[0]?.type, "the bridge's first frame").toBe(FrameType.SETTINGS);
  expect(
    frames.filter((f) => f.type === FrameType.SETTINGS),
    "SETTINGS frames from the bridge",
  ).toHaveLength(1);
  const settingOf = (id: number, fallback: number): number => facts.firstSettings?.get(id) ?? fallback;
  const streamWindow = settingOf(SettingId.INITIAL_STREAM_WINDOW, DEFAULT_SETTINGS.initialStreamWindow);
  const connectionWindow = settingOf(SettingId.INITIAL_CONNECTION_WINDOW, DEFAULT_SETTINGS.initialConnectionWindow);
  const maxFrameSize = settingOf(SettingId.MAX_FRAME_SIZE, DEFAULT_SETTINGS.maxFrameSize);
  const ended = new Set<number>();
  const headers = new Set<number>();
  const sent = new Map<number, number>();
  let sentTotal = 0;
  for (const f of frames) {
    const where = `${f.type === FrameType.GOAWAY || f.type === FrameType.PING ? "" : `stream ${f.streamId}: `}frame type ${f.type}`;
    switch (f.type) {
      case FrameType.GOAWAY: {
        const code = u32(f.payload, 4);
        const debug = new TextDecoder().decode(f.payload.subarray(8));
        if (!CONNECTION_ERROR_CODES.has(code))
          throw new Error(`the bridge sent GOAWAY ${ErrorCodeName[code] ?? code}: ${debug}`);
        continue;
      }
      case FrameType.PING:
        if (f.flags !== 1) throw new Error("the bridge sent a PING (keepalive is far off)");
        continue;
      case FrameType.WINDOW_UPDATE:
        if (f.streamId !== 0 && !facts.corrupted && !facts.opened.has(f.streamId))
          throw new Error(`${where}: the client never opened it`);
        continue;
      case FrameType.SETTINGS:
        continue;
    }
    if (facts.corrupted) {
      // What the bridge read is not what the client meant: only the codes above can be checked.
      if (f.type === FrameType.RST_STREAM && !STREAM_ERROR_CODES.has(u32(f.payload, 0)))
        throw new Error(`${where}: RST_STREAM ${u32(f.payload, 0)}`);
      continue;
    }
    if (!facts.opened.has(f.streamId)) throw new Error(`${where}: the client never opened it`);
    if (ended.has(f.streamId)) throw new Error(`${where}: after the stream's TRAILERS or RST_STREAM`);
    switch (f.type) {
      case FrameType.RST_STREAM: {
        const code = u32(f.payload, 0);
        if (!STREAM_ERROR_CODES.has(code)) throw new Error(`${where}: RST_STREAM ${ErrorCodeName[code] ?? code}`);
        ended.add(f.streamId);
        break;
      }
      case FrameType.TRAILERS: {
        const status = parseTrailers(readMetadata(f.payload, 0, f.payload.length));
        // UNKNOWN is what a handler's unexpected exception becomes: a bug on our side.
        if (status.code === Status.UNKNOWN || status.message === FAILED_TO_START)
          throw new Error(`${where}: status ${status.code}: ${status.message}`);
        ended.add(f.streamId);
        break;
      }
      case FrameType.HEADERS:
        if (headers.has(f.streamId)) throw new Error(`${where}: a second HEADERS frame`);
        headers.add(f.streamId);
        break;
      case FrameType.DATA: {
        if (!headers.has(f.streamId)) throw new Error(`${where}: DATA before HEADERS`);
        if (f.payload.length > maxFrameSize)
          throw new Error(
            `${where}: DATA of ${f.payload.length} bytes over the client's max frame size ${maxFrameSize}`,
          );
        const total = (sent.get(f.streamId) ?? 0) + f.payload.length;
        sent.set(f.streamId, total);
        sentTotal += f.payload.length;
        if (total > streamWindow + (facts.credit.get(f.streamId) ?? 0))
          throw new Error(`${where}: ${total} DATA bytes overrun the stream window`);
        if (sentTotal > connectionWindow + (facts.credit.get(0) ?? 0))
          throw new Error(`${where}: ${sentTotal} DATA bytes overrun the connection window`);
        break;
      }
    }
  }
}

/** The bridge closed the connection on its own: only for the client's fault, and saying so. */
export function checkClose(peer: FuzzPeer, facts: ClientFacts): void {
  const close = peer.closeEvent;
  if (!close) return;
  const why = `close ${close.code} "${close.reason}"`;
  if (close.code === CloseCode.NORMAL) {
    // The client's own GOAWAY with an error code ends the session without an answer.
    if (!facts.sentErrorGoAway && !facts.corrupted) throw new Error(`the bridge closed normally without cause: ${why}`);
    return;
  }
  if (
    close.code !== CloseCode.PROTOCOL_ERROR &&
    close.code !== CloseCode.UNSUPPORTED_DATA &&
    close.code !== CloseCode.GOING_AWAY
  ) {
    throw new Error(`the bridge closed with ${why}`);
  }
  if (close.code !== CloseCode.GOING_AWAY && !peer.frames.some((f) => f.type === FrameType.GOAWAY)) {
    throw new Error(`the bridge closed with ${why} without a GOAWAY`);
  }
}

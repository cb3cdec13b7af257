// A minimal raw grpc-ws client for the bridge's tests: the wire Session over a real `ws` socket,
// with every call's headers, messages and trailers (or reset) recorded as they arrive.
import { request as httpRequest } from "node:http";
import {
  ErrorCodeName,
  FrameReader,
  FrameType,
  FrameWriter,
  PATH,
  resolveSettings,
  writeMetadataFrame,
  writeSettings,
  SUBPROTOCOL,
  Session,
  SessionClosedError,
  formatTimeout,
  parseTrailers,
  type CallStatus,
  type Metadata,
  type Settings,
  type Stream,
} from "@grpc-ws/wire";
import { WebSocket } from "ws";

export interface CallOutcome {
  headers: Metadata | undefined;
  messages: Uint8Array[];
  /** Set when TRAILERS ended the call. */
  status: CallStatus | undefined;
  trailers: Metadata | undefined;
  /** Set when the stream was reset instead. */
  reset: { code: number; name: string; message: string } | undefined;
}

export interface TestCall {
  readonly stream: Stream;
  readonly outcome: CallOutcome;
  /** Settles when trailers or a reset ended the call. */
  readonly done: Promise<CallOutcome>;
  /** Settles when the response HEADERS (or the end) arrived. */
  readonly headers: Promise<void>;
  /** Resolves once `count` messages were received (or the call ended first). */
  messages(count: number): Promise<void>;
  /** Stalled mode: start reading (returns credit). */
  resume(): void;
}

export interface CallOptions {
  metadata?: Metadata;
  timeoutMs?: number;
  /** Half-close after the requests. Default true. */
  end?: boolean;
  /** False: do not read responses (no credit goes back) until `resume()`. Default true. */
  read?: boolean;
}

export class TestClient {
  readonly session: Session;
  /** The raw bytes of the first WebSocket message the server sent. */
  firstMessage: Uint8Array | undefined;
  closeEvent: { code: number; reason: string } | undefined;
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(
    readonly ws: WebSocket,
    settings: Partial<Settings> | undefined,
    private readonly ready: () => void,
  ) {
    this.session = new Session(
      {
        send: (message) => {
          if (ws.readyState === WebSocket.OPEN) ws.send(message);
        },
        close: (code, reason) => ws.close(code, reason),
      },
      { role: "client", settings, onSettings: () => this.ready() },
    );
    ws.on("message", (data: Buffer) => {
      const bytes = new Uint8Array(data.buffer, data.byteOffset, data.length);
      this.firstMessage ??= bytes.slice();
      this.session.receive(bytes);
    });
    this.closed = new Promise((resolve) => {
      ws.on("close", (code: number, reason: Buffer) => {
        this.closeEvent = { code, reason: reason.toString() };
        this.session.close(new SessionClosedError("socket closed"), 0);
        resolve(this.closeEvent);
      });
    });
  }

  /** Connects and waits for the server's SETTINGS. */
  static async connect(
    url: string,
    settings?: Partial<Settings>,
    upgradeHeaders?: Record<string, string>,
  ): Promise<TestClient> {
    const ws = new WebSocket(url, [SUBPROTOCOL], { headers: upgradeHeaders });
    ws.binaryType = "nodebuffer";
    let ready!: () => void;
    const settled = new Promise<void>((resolve) => (ready = resolve));
    // The session is created on open: its SETTINGS must be the first thing it sends.
    const client = await new Promise<TestClient>((resolve, reject) => {
      ws.once("open", () => resolve(new TestClient(ws, settings, () => ready())));
      ws.once("error", reject);
    });
    ws.on("error", () => undefined);
    await settled;
    return client;
  }

  /** Opens a call, sends `requests` (already-serialized messages) and records the response. */
  call(path: string, requests: Uint8Array[], options: CallOptions = {}): TestCall {
    const metadata: Metadata = [...(options.metadata ?? [])];
    if (options.timeoutMs !== undefined) metadata.push(["grpc-timeout", formatTimeout(options.timeoutMs)]);
    const outcome: CallOutcome = {
      headers: undefined,
      messages: [],
      status: undefined,
      trailers: undefined,
      reset: undefined,
    };
    let reading = options.read ?? true;
    let finish!: () => void;
    let gotHeaders!: () => void;
    const done = new Promise<CallOutcome>((resolve) => (finish = () => resolve(outcome)));
    const headers = new Promise<void>((resolve) => (gotHeaders = resolve));
    const countWaiters: Array<{ count: number; resolve: () => void }> = [];
    const notify = (): void => {
      for (let i = countWaiters.length - 1; i >= 0; i--) {
        const w = countWaiters[i]!;
        if (outcome.messages.length >= w.count || outcome.status || outcome.reset) {
          countWaiters.splice(i, 1);
          w.resolve();
        }
      }
    };
    const drain = (): void => {
      if (!reading) return;
      let m: Uint8Array | undefined;
      while ((m = stream.read()) !== undefined) outcome.messages.push(m.slice());
      notify();
    };
    const stream = this.session.openStream(path, metadata, {
      onHeaders(h) {
        outcome.headers = h;
        gotHeaders();
      },
      onReadable: drain,
      onTrailers(t) {
        drain();
        outcome.trailers = t;
        outcome.status = parseTrailers(t);
        gotHeaders();
        notify();
        finish();
      },
      onReset(code, error) {
        outcome.reset = { code, name: ErrorCodeName[code] ?? String(code), message: error.message };
        gotHeaders();
        notify();
        finish();
      },
    });
    for (const r of requests) stream.write(r);
    if (options.end ?? true) stream.halfClose();
    return {
      stream,
      outcome,
      done,
      headers,
      messages: (count) => {
        const p = new Promise<void>((resolve) => countWaiters.push({ count, resolve }));
        notify();
        return p;
      },
      resume() {
        reading = true;
        drain();
      },
    };
  }

  /** Sends raw bytes as one binary WebSocket message (for malformed-input tests). */
  sendRaw(bytes: Uint8Array): void {
    this.ws.send(bytes);
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close(1000, "test done");
    const timer = setTimeout(() => this.ws.terminate(), 2000);
    await this.closed;
    clearTimeout(timer);
  }
}

/** The frame types, in order, of one WebSocket message. */
export function frameTypes(message: Uint8Array): number[] {
  const r = new FrameReader(1 << 24).reset(message);
  const out: number[] = [];
  while (r.next()) out.push(r.type);
  return out;
}

/** Resolves when `predicate` holds, polling every 5 ms; rejects after `timeoutMs`. */
export async function until(predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export interface RawFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Uint8Array;
}

/** A hand-driven peer: writes arbitrary frames and records every frame the server sends. */
export class RawPeer {
  readonly frames: RawFrame[] = [];
  readonly writer: FrameWriter;
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly reader = new FrameReader(1 << 24);

  private constructor(readonly ws: WebSocket) {
    this.writer = new FrameWriter((m) => ws.send(m.slice()), { schedule: () => undefined });
    ws.on("message", (data: Buffer) => {
      const r = this.reader.reset(new Uint8Array(data.buffer, data.byteOffset, data.length));
      while (r.next())
        this.frames.push({ type: r.type, flags: r.flags, streamId: r.streamId, payload: r.payload.slice() });
    });
    ws.on("error", () => undefined);
    this.closed = new Promise((resolve) =>
      ws.on("close", (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })),
    );
  }

  static async connect(url: string): Promise<RawPeer> {
    const ws = new WebSocket(url, [SUBPROTOCOL]);
    const peer = new RawPeer(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    return peer;
  }

  /** Writes frames with `build` and sends them as one WebSocket message. */
  send(build: (writer: FrameWriter) => void): void {
    build(this.writer);
    this.writer.flush();
  }

  settings(settings?: Partial<Settings>): void {
    this.send((w) => writeSettings(w, resolveSettings(settings)));
  }

  openStream(id: number, path: string, endStream = false): void {
    this.send((w) => writeMetadataFrame(w, FrameType.HEADERS, id, [[PATH, path]], endStream));
  }

  async close(): Promise<void> {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.terminate();
    await this.closed;
  }
}

/** The bytes of `parts` one after another in a new array. */
export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A plain HTTP request on a fresh connection: its status and UTF-8 body. */
export function httpGet(port: number, path: string, method = "GET"): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, path, method, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

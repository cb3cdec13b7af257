// Test support (not exported from the package): sessions wired to each other or to a scripted peer in memory.
import { FrameReader } from "./frame-reader.js";
import { FrameTypeName, MAX_STREAM_ID } from "./constants.js";
import { readMetadata, type Metadata } from "./metadata.js";
import { readSettings, type Settings } from "./settings.js";
import { SessionClosedError } from "./errors.js";
import { Session, type SessionOptions } from "./session.js";

export interface WireFrame {
  type: string;
  flags: number;
  streamId: number;
  length: number;
  payload: Uint8Array;
  metadata?: Metadata;
  settings?: Settings;
  code?: number;
  increment?: number;
  lastStreamId?: number;
  debug?: string;
}

export function decode(message: Uint8Array): WireFrame[] {
  const r = new FrameReader().reset(message);
  const out: WireFrame[] = [];
  while (r.next()) {
    const f: WireFrame = {
      type: FrameTypeName[r.type]!,
      flags: r.flags,
      streamId: r.streamId,
      length: r.length,
      payload: r.payload.slice(),
    };
    if (f.type === "HEADERS" || f.type === "TRAILERS") f.metadata = readMetadata(f.payload, 0, f.length);
    if (f.type === "SETTINGS") f.settings = readSettings(f.payload, 0, f.length);
    if (f.type === "RST_STREAM") f.code = r.u32(0);
    if (f.type === "WINDOW_UPDATE") f.increment = r.u32(0);
    if (f.type === "GOAWAY") {
      f.lastStreamId = r.u32(0) & MAX_STREAM_ID;
      f.code = r.u32(4);
      f.debug = new TextDecoder().decode(f.payload.subarray(8));
    }
    out.push(f);
  }
  return out;
}

export const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Waits (bounded: 2 s by default) until `cond` holds; throws with `what` otherwise. */
export async function until(cond: () => boolean, what: string, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await tick();
  }
}

export interface Wire {
  /** Every message in the order it was delivered, with its direction. */
  log: Array<{ from: "client" | "server"; frames: WireFrame[] }>;
  closes: Array<{ by: "client" | "server"; code: number; reason: string }>;
  /** When set, messages from that side are silently dropped (a dead peer). */
  blackhole: { client: boolean; server: boolean };
  frames(from: "client" | "server"): WireFrame[];
}

/** A client and a server session joined in memory; each message is delivered in a later tick. */
export async function connect(client: Partial<SessionOptions> = {}, server: Partial<SessionOptions> = {}) {
  const wire: Wire = {
    log: [],
    closes: [],
    blackhole: { client: false, server: false },
    frames: (from) => wire.log.filter((m) => m.from === from).flatMap((m) => m.frames),
  };
  const sessions: { client?: Session; server?: Session } = {};
  const socket = (from: "client" | "server") => {
    const to = from === "client" ? "server" : "client";
    let open = true;
    return {
      send(message: Uint8Array) {
        if (!open) return;
        const copy = message.slice();
        setImmediate(() => {
          if (wire.blackhole[from]) return;
          wire.log.push({ from, frames: decode(copy) });
          sessions[to]!.receive(copy);
        });
      },
      close(code: number, reason: string) {
        if (!open) return;
        open = false;
        wire.closes.push({ by: from, code, reason });
        setImmediate(() => sessions[to]!.close(new SessionClosedError(`socket closed: ${code}`), 0));
      },
    };
  };
  let clientReady = false;
  sessions.server = new Session(socket("server"), { role: "server", ...server });
  sessions.client = new Session(socket("client"), {
    role: "client",
    ...client,
    onSettings(settings) {
      clientReady = true;
      client.onSettings?.(settings);
    },
  });
  await until(() => clientReady && sessions.server!.peer !== undefined, "settings exchange");
  return { client: sessions.client, server: sessions.server, wire };
}

/** A session whose peer is the test itself: inject raw bytes, inspect what the session sent. */
export function scripted(options: SessionOptions) {
  const sent: Uint8Array[] = [];
  const closes: Array<{ code: number; reason: string }> = [];
  const session = new Session(
    {
      send: (m) => void sent.push(m.slice()),
      close: (code, reason) => void closes.push({ code, reason }),
    },
    { writer: { schedule: (flush) => queueMicrotask(flush) }, ...options },
  );
  return { session, sent, closes, frames: () => sent.flatMap(decode) };
}

export function hex(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text.replace(/\s+/g, ""), "hex"));
}

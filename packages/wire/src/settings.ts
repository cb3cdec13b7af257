import { ErrorCode, MAX_FRAME_SIZE_LIMIT, MAX_WINDOW_SIZE, FrameType } from "./constants.js";
import { ProtocolError } from "./errors.js";
import type { FrameWriter } from "./frame-writer.js";

/** What one side accepts; each side sends its own in a SETTINGS frame, first thing on the connection. */
export interface Settings {
  /** Bytes of DATA the peer may send on one stream before this side returns credit. */
  initialStreamWindow: number;
  /** Bytes of DATA the peer may send on the whole connection before this side returns credit. */
  initialConnectionWindow: number;
  /** Streams the peer may have open at once toward this side. */
  maxConcurrentStreams: number;
  /** Largest frame payload this side accepts. */
  maxFrameSize: number;
  /** Largest gRPC message (without its 5-byte prefix) this side accepts. */
  maxMessageSize: number;
  /** Largest HEADERS or TRAILERS payload this side accepts. */
  maxMetadataSize: number;
}

export const SettingId = {
  INITIAL_STREAM_WINDOW: 0x1,
  INITIAL_CONNECTION_WINDOW: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  MAX_FRAME_SIZE: 0x4,
  MAX_MESSAGE_SIZE: 0x5,
  MAX_METADATA_SIZE: 0x6,
} as const;

/** Each setting and its id on the wire, in the order a SETTINGS frame lists them. */
const ENTRIES: ReadonlyArray<readonly [id: number, key: keyof Settings]> = [
  [SettingId.INITIAL_STREAM_WINDOW, "initialStreamWindow"],
  [SettingId.INITIAL_CONNECTION_WINDOW, "initialConnectionWindow"],
  [SettingId.MAX_CONCURRENT_STREAMS, "maxConcurrentStreams"],
  [SettingId.MAX_FRAME_SIZE, "maxFrameSize"],
  [SettingId.MAX_MESSAGE_SIZE, "maxMessageSize"],
  [SettingId.MAX_METADATA_SIZE, "maxMetadataSize"],
];
const KEYS = ENTRIES.map(([, key]) => key);
const KEY_BY_ID = new Map<number, keyof Settings>(ENTRIES);

export const DEFAULT_SETTINGS: Readonly<Settings> = Object.freeze({
  initialStreamWindow: 256 * 1024,
  initialConnectionWindow: 4 * 1024 * 1024,
  maxConcurrentStreams: 100,
  maxFrameSize: 16 * 1024,
  maxMessageSize: 4 * 1024 * 1024,
  maxMetadataSize: 16 * 1024,
});

/** The smallest MAX_FRAME_SIZE a peer may advertise: room for ordinary HEADERS and TRAILERS. */
export const MIN_FRAME_SIZE = 1024;

/** Fills in defaults and checks ranges; throws RangeError for a local misconfiguration. */
export function resolveSettings(partial: Partial<Settings> = {}): Settings {
  const s: Settings = { ...DEFAULT_SETTINGS, ...partial };
  const problem = checkSettings(s);
  if (problem) throw new RangeError(problem);
  return s;
}

function checkSettings(s: Settings): string | undefined {
  for (const key of KEYS) {
    const v = s[key];
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff)
      return `setting ${key} must be an integer in 0..2^32-1, got ${v}`;
  }
  if (s.initialStreamWindow < 1 || s.initialStreamWindow > MAX_WINDOW_SIZE)
    return `initialStreamWindow must be in 1..2^31-1`;
  if (s.initialConnectionWindow < 1 || s.initialConnectionWindow > MAX_WINDOW_SIZE)
    return `initialConnectionWindow must be in 1..2^31-1`;
  if (s.maxFrameSize < MIN_FRAME_SIZE || s.maxFrameSize > MAX_FRAME_SIZE_LIMIT) {
    return `maxFrameSize must be in ${MIN_FRAME_SIZE}..${MAX_FRAME_SIZE_LIMIT}, got ${s.maxFrameSize}`;
  }
  return undefined;
}

export function writeSettings(writer: FrameWriter, settings: Settings): void {
  const o = writer.begin(FrameType.SETTINGS, 0, 0, ENTRIES.length * 6);
  const b = writer.buf;
  ENTRIES.forEach(([id, key], i) => {
    const p = o + i * 6;
    b[p] = id >> 8;
    b[p + 1] = id & 0xff;
    writer.writeU32(p + 2, settings[key]);
  });
}

/**
 * Decodes a SETTINGS payload over the defaults. Unknown ids are ignored (room for extensions);
 * a value out of range is a connection error.
 */
export function readSettings(bytes: Uint8Array, offset: number, length: number): Settings {
  const s: Settings = { ...DEFAULT_SETTINGS };
  for (let o = offset; o < offset + length; o += 6) {
    const id = (bytes[o]! << 8) | bytes[o + 1]!;
    const value = ((bytes[o + 2]! << 24) | (bytes[o + 3]! << 16) | (bytes[o + 4]! << 8) | bytes[o + 5]!) >>> 0;
    const key = KEY_BY_ID.get(id);
    if (key !== undefined) s[key] = value;
  }
  const problem = checkSettings(s);
  if (problem) {
    const code = problem.includes("Window") ? ErrorCode.FLOW_CONTROL_ERROR : ErrorCode.PROTOCOL_ERROR;
    throw new ProtocolError(code, `invalid SETTINGS: ${problem}`);
  }
  return s;
}

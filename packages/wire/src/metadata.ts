import { ErrorCode, FrameType, Flags } from "./constants.js";
import { ProtocolError } from "./errors.js";
import type { FrameWriter } from "./frame-writer.js";

/** A metadata value: raw bytes for names ending in `-bin`, printable ASCII text for all others. */
export type MetadataValue = string | Uint8Array;
/** Ordered (name, value) pairs; names are lowercase and may repeat. */
export type Metadata = Array<[name: string, value: MetadataValue]>;

/** The pseudo-header that carries the method path in a request HEADERS frame. */
export const PATH = ":path";

// Each entry: name length (u16), value length (u32), name bytes, value bytes.
const ENTRY_OVERHEAD = 6;

export function isBinaryName(name: string): boolean {
  return name.endsWith("-bin");
}

// Lowercase letters, digits, '-', '_', '.'; a leading ':' only for pseudo-headers.
function isNameByte(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f || c === 0x2e;
}

/** Returns why `name` is not a valid metadata name, or undefined when it is. */
export function invalidName(name: string): string | undefined {
  if (name.length === 0) return "empty metadata name";
  if (name.length > 0xffff) return "metadata name longer than 65535 bytes";
  for (let i = name.charCodeAt(0) === 0x3a ? 1 : 0; i < name.length; i++) {
    if (!isNameByte(name.charCodeAt(i))) return `invalid character in metadata name ${JSON.stringify(name)}`;
  }
  return undefined;
}

function isTextByte(c: number): boolean {
  return c >= 0x20 && c <= 0x7e;
}

/** Size in bytes of the encoded metadata block. Throws TypeError on a name or value that cannot be sent. */
export function metadataSize(metadata: Metadata): number {
  let size = 0;
  for (const [name, value] of metadata) {
    const bad = invalidName(name);
    if (bad) throw new TypeError(bad);
    if (typeof value === "string") {
      if (isBinaryName(name)) throw new TypeError(`metadata ${name} must have a binary (Uint8Array) value`);
      for (let i = 0; i < value.length; i++) {
        if (!isTextByte(value.charCodeAt(i))) {
          throw new TypeError(
            `metadata ${name} has a character outside printable ASCII; use a -bin name for binary values`,
          );
        }
      }
    } else if (!isBinaryName(name)) {
      throw new TypeError(`metadata ${name} has a binary value but its name does not end in -bin`);
    }
    size += ENTRY_OVERHEAD + name.length + value.length;
  }
  return size;
}

/** Encodes a metadata block into `buf` at `offset`; returns the end offset. Assumes `metadataSize` passed. */
export function writeMetadata(buf: Uint8Array, offset: number, metadata: Metadata): number {
  let o = offset;
  for (const [name, value] of metadata) {
    const n = name.length;
    const v = value.length;
    buf[o] = n >>> 8;
    buf[o + 1] = n;
    buf[o + 2] = v >>> 24;
    buf[o + 3] = v >>> 16;
    buf[o + 4] = v >>> 8;
    buf[o + 5] = v;
    o += ENTRY_OVERHEAD;
    for (let i = 0; i < n; i++) buf[o + i] = name.charCodeAt(i);
    o += n;
    if (typeof value === "string") {
      for (let i = 0; i < v; i++) buf[o + i] = value.charCodeAt(i);
    } else {
      buf.set(value, o);
    }
    o += v;
  }
  return o;
}

/** Writes a HEADERS or TRAILERS frame whose payload is `metadata`. */
export function writeMetadataFrame(
  writer: FrameWriter,
  type: typeof FrameType.HEADERS | typeof FrameType.TRAILERS,
  streamId: number,
  metadata: Metadata,
  endStream = false,
): void {
  const size = metadataSize(metadata);
  const o = writer.begin(type, endStream ? Flags.END_STREAM : 0, streamId, size);
  writeMetadata(writer.buf, o, metadata);
}

function ascii(bytes: Uint8Array, start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}

/**
 * Decodes a metadata block. Binary values are views into `bytes` (copy them to keep them past
 * the message). Throws `ProtocolError` on any malformed entry or when the block exceeds `maxSize`.
 */
export function readMetadata(
  bytes: Uint8Array,
  offset: number,
  length: number,
  maxSize = Infinity,
  streamId = 0,
): Metadata {
  const fail = (what: string) => new ProtocolError(ErrorCode.PROTOCOL_ERROR, `malformed metadata: ${what}`, streamId);
  if (length > maxSize) {
    throw new ProtocolError(
      ErrorCode.PROTOCOL_ERROR,
      `metadata block of ${length} bytes exceeds max metadata size ${maxSize}`,
      streamId,
    );
  }
  const out: Metadata = [];
  const end = offset + length;
  let o = offset;
  while (o < end) {
    if (end - o < ENTRY_OVERHEAD) throw fail(`truncated entry header at byte ${o - offset}`);
    const n = (bytes[o]! << 8) | bytes[o + 1]!;
    const v = ((bytes[o + 2]! << 24) | (bytes[o + 3]! << 16) | (bytes[o + 4]! << 8) | bytes[o + 5]!) >>> 0;
    o += ENTRY_OVERHEAD;
    if (n === 0) throw fail("empty name");
    if (n + v > end - o) throw fail(`entry of ${n + v} bytes overruns the block`);
    const pseudo = bytes[o] === 0x3a;
    for (let i = pseudo ? 1 : 0; i < n; i++) {
      if (!isNameByte(bytes[o + i]!)) throw fail(`invalid byte 0x${bytes[o + i]!.toString(16)} in name`);
    }
    const name = ascii(bytes, o, o + n);
    o += n;
    if (isBinaryName(name)) {
      out.push([name, bytes.subarray(o, o + v)]);
    } else {
      for (let i = o; i < o + v; i++) {
        if (!isTextByte(bytes[i]!)) throw fail(`value of ${name} has non-printable byte 0x${bytes[i]!.toString(16)}`);
      }
      out.push([name, ascii(bytes, o, o + v)]);
    }
    o += v;
  }
  return out;
}

/** The first value of `name`, if any. */
export function getMetadata(metadata: Metadata, name: string): MetadataValue | undefined {
  for (const entry of metadata) if (entry[0] === name) return entry[1];
  return undefined;
}

import { decodeBase64, encodeBase64 } from "../headers.js";
import { MESSAGE_PREFIX_SIZE, writeMessagePrefix } from "../message.js";
import { invalidName, isBinaryName, metadataSize, type Metadata } from "../metadata.js";

// The `grpc-websockets` subprotocol of improbable-eng/grpc-web and nice-grpc-web (docs/PROTOCOL.md,
// appendix A): one WebSocket per call, the method path in the URL, a text header block first,
// client messages tagged with one byte, responses in gRPC-Web framing.

/** The subprotocol token both client libraries offer. */
export const GRPC_WEBSOCKETS = "grpc-websockets";

/** The first byte of every client message after the header block. */
export const ClientTag = { DATA: 0x00, END: 0x01 } as const;

/** The client's half-close: one byte, 0x01. */
export const END_OF_CLIENT_STREAM: Uint8Array = Uint8Array.of(ClientTag.END);

/** gRPC-Web: bit 7 of a frame's flag byte marks a metadata frame (response headers or trailers). */
export const METADATA_FRAME_FLAG = 0x80;

/** Input that breaks the subprotocol; the call ends with INTERNAL and this message. */
export class GrpcWebSocketsError extends Error {
  override readonly name = "GrpcWebSocketsError";
}

enum C {
  TAB = 0x09,
  LF = 0x0a,
  CR = 0x0d,
  SPACE = 0x20,
  COLON = 0x3a,
  COMMA = 0x2c,
}

/**
 * Decodes a header block: `name: value` lines ended by CRLF (a bare LF is accepted), as the first
 * client message or inside a metadata frame. Names are lowercased; values lose surrounding spaces
 * and tabs. A `-bin` value is base64 (padded or not, standard or URL alphabet); a comma separates
 * several values of one line (improbable-eng joins repeated values with ", "). A text value is
 * kept whole, commas included.
 */
export function decodeHeaderBlock(block: Uint8Array): Metadata {
  const out: Metadata = [];
  let start = 0;
  for (let i = 0; i <= block.length; i++) {
    const c = i < block.length ? block[i]! : C.LF;
    if (c === C.LF) {
      const end = i > start && block[i - 1] === C.CR ? i - 1 : i;
      if (end > start) decodeLine(block, start, end, out);
      start = i + 1;
    } else if (c === C.CR) {
      if (block[i + 1] !== C.LF && i + 1 < block.length)
        throw new GrpcWebSocketsError(`header block: CR not followed by LF at offset ${i}`);
    } else if (c !== C.TAB && (c < 0x20 || c > 0x7e)) {
      throw new GrpcWebSocketsError(
        `header block: byte 0x${c.toString(16).padStart(2, "0")} at offset ${i} is not printable ASCII`,
      );
    }
  }
  return out;
}

function decodeLine(block: Uint8Array, start: number, end: number, out: Metadata): void {
  const line = String.fromCharCode(...block.subarray(start, end));
  if (block[start] === C.SPACE || block[start] === C.TAB)
    throw new GrpcWebSocketsError(`header block: folded line ${JSON.stringify(line)}`);
  const colon = line.indexOf(":");
  if (colon < 1) throw new GrpcWebSocketsError(`header block: line ${JSON.stringify(line)} is not "name: value"`);
  const name = line.slice(0, colon).toLowerCase();
  const bad = invalidName(name);
  if (bad !== undefined || name.startsWith(":"))
    throw new GrpcWebSocketsError(`header block: ${bad ?? `pseudo-header ${name}`}`);
  const value = trimOws(line.slice(colon + 1));
  if (!isBinaryName(name)) {
    if (value.includes("\t")) throw new GrpcWebSocketsError(`header block: tab inside the value of ${name}`);
    out.push([name, value]);
    return;
  }
  for (const part of value.split(",")) {
    const bytes = decodeBase64(trimOws(part));
    if (bytes === undefined) throw new GrpcWebSocketsError(`header block: ${name} is not base64`);
    out.push([name, bytes]);
  }
}

function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === C.SPACE || s.charCodeAt(a) === C.TAB)) a++;
  while (b > a && (s.charCodeAt(b - 1) === C.SPACE || s.charCodeAt(b - 1) === C.TAB)) b--;
  return s.slice(a, b);
}

/**
 * Encodes metadata as a header block: one `name: value\r\n` line per entry, `-bin` values in
 * padded standard base64. Throws TypeError for metadata that cannot be sent (as the wire does).
 */
export function encodeHeaderBlock(metadata: Metadata): Uint8Array {
  metadataSize(metadata);
  let text = "";
  for (const [name, value] of metadata)
    text += `${name}: ${typeof value === "string" ? value : encodeBase64(value)}\r\n`;
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

/** A gRPC-Web metadata frame (response headers or trailers): flag 0x80, u32 length, header block. */
export function encodeMetadataFrame(metadata: Metadata): Uint8Array {
  const block = encodeHeaderBlock(metadata);
  const out = new Uint8Array(MESSAGE_PREFIX_SIZE + block.length);
  writeMessagePrefix(out, 0, block.length, METADATA_FRAME_FLAG);
  out.set(block, MESSAGE_PREFIX_SIZE);
  return out;
}

/** What one client WebSocket message after the header block carries. */
export type ClientMessage =
  /** Bytes of the gRPC length-prefixed message stream (not necessarily whole messages). */
  | { type: "data"; data: Uint8Array }
  /** The client half-closed. */
  | { type: "end" }
  /** An empty WebSocket message: nothing (grpcwebproxy ignores it too). */
  | { type: "empty" };

/** Reads one client message after the header block. Throws GrpcWebSocketsError for an unknown tag. */
export function readClientMessage(message: Uint8Array): ClientMessage {
  if (message.length === 0) return { type: "empty" };
  const tag = message[0]!;
  if (tag === ClientTag.DATA) return { type: "data", data: message.subarray(1) };
  if (tag === ClientTag.END && message.length === 1) return { type: "end" };
  throw new GrpcWebSocketsError(
    tag === ClientTag.END
      ? `end-of-stream message with ${message.length - 1} extra bytes`
      : `unknown message tag 0x${tag.toString(16).padStart(2, "0")}`,
  );
}

/** A client's data message: tag 0x00, then bytes of the gRPC message stream. */
export function encodeClientData(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + data.length);
  out[0] = ClientTag.DATA;
  out.set(data, 1);
  return out;
}

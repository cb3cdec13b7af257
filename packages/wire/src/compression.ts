import { MessageError } from "./message.js";
import { Status } from "./status.js";

// gRPC per-message compression (grpc/grpc doc/compression.md): a message whose prefix has the
// compressed flag is encoded with the call's `grpc-encoding`. The interface is Connect's
// `Compression` (from "@connectrpc/connect/protocol"), so `compressionGzip` of connect-node plugs in.

export const GRPC_ENCODING = "grpc-encoding";
export const GRPC_ACCEPT_ENCODING = "grpc-accept-encoding";
export const IDENTITY = "identity";

/** One compression algorithm. Structurally the same as Connect's `Compression`. */
export interface Compression {
  /** The name in `grpc-encoding`, e.g. "gzip". */
  readonly name: string;
  compress(bytes: Uint8Array): Promise<Uint8Array>;
  /**
   * Decompresses one message. Must fail once the output would exceed `readMaxBytes`, while
   * inflating (never after inflating everything): a zip bomb costs at most that much memory.
   */
  decompress(bytes: Uint8Array, readMaxBytes: number): Promise<Uint8Array>;
}

/** Messages below this size are not worth compressing (Connect's default). */
export const DEFAULT_COMPRESS_MIN_BYTES = 1024;

// The largest expansion of deflate (RFC 1951: 258-byte matches coded in about 2 bits).
const MAX_DEFLATE_RATIO = 1032;
const MIN_SLICE = 64;
const MAX_SLICE = 16 * 1024;

/**
 * gzip with the platform's own `CompressionStream` / `DecompressionStream` (every current browser,
 * Node >= 18, Deno, Bun): no code of ours inflates anything.
 */
export const gzip: Compression = {
  name: "gzip",
  // Compressing cannot blow up: the whole message goes in one write (fewer stream round trips).
  compress: (bytes) =>
    pipeThrough(new CompressionStream("gzip"), bytes, Number.MAX_SAFE_INTEGER, Math.max(1, bytes.length)),
  decompress: (bytes, readMaxBytes) =>
    bytes.length === 0
      ? Promise.resolve(new Uint8Array(0))
      : pipeThrough(new DecompressionStream("gzip"), bytes, readMaxBytes),
};

/**
 * Feeds `input` through a transform in slices small enough that one slice can never inflate to
 * more than about `maxBytes` (a browser's transform inflates a whole written chunk at once), counts
 * the output as it comes and stops at the limit: the output held never exceeds the limit plus one
 * slice's worth (at most max(limit, 66 KB)).
 */
async function pipeThrough(
  stream: CompressionStream | DecompressionStream,
  input: Uint8Array,
  maxBytes: number,
  slice = Math.max(MIN_SLICE, Math.min(MAX_SLICE, Math.floor(maxBytes / MAX_DEFLATE_RATIO))),
): Promise<Uint8Array> {
  const writer = stream.writable.getWriter();
  const reader = stream.readable.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  let failed = false;
  const feed = (async () => {
    for (let o = 0; o < input.length && !failed; o += slice) {
      await writer.write(input.subarray(o, o + slice) as Uint8Array<ArrayBuffer>);
    }
    if (!failed) await writer.close();
  })();
  // A rejected write shows up at the reader too; keep it from being reported as unhandled.
  feed.catch(() => undefined);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > maxBytes) {
        failed = true;
        throw overLimit(maxBytes);
      }
      chunks.push(value);
    }
    await feed;
  } catch (e) {
    failed = true;
    void reader.cancel().catch(() => undefined);
    void writer.abort().catch(() => undefined);
    if (e instanceof MessageError) throw e;
    throw new MessageError(Status.INTERNAL, `invalid gzip data: ${e instanceof Error ? e.message : String(e)}`);
  }
  return concat(chunks, total);
}

/** The one error for a message whose decompressed size passes the limit, whichever check (or backend) saw it. */
export function overLimit(limit: number): MessageError {
  return new MessageError(Status.RESOURCE_EXHAUSTED, `message exceeds the limit of ${limit} bytes after decompression`);
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/**
 * Decompresses one received message with the call's encoding; every failure is a `MessageError`
 * with the status the call ends with (RESOURCE_EXHAUSTED over the limit, INTERNAL otherwise).
 */
export async function decompressMessage(
  compression: Compression | undefined,
  bytes: Uint8Array,
  readMaxBytes: number,
): Promise<Uint8Array> {
  if (!compression)
    throw new MessageError(Status.INTERNAL, "received a compressed message, but the call has no grpc-encoding");
  let out: Uint8Array;
  try {
    out = await compression.decompress(bytes, readMaxBytes);
  } catch (e) {
    if (e instanceof MessageError) throw e;
    // Another implementation (connect-node's) reports the limit as a ConnectError ResourceExhausted.
    const code = (e as { code?: unknown } | null)?.code;
    if (code === Status.RESOURCE_EXHAUSTED) throw overLimit(readMaxBytes);
    throw new MessageError(
      Status.INTERNAL,
      `invalid ${compression.name} message: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  // An implementation that does not check while inflating is still held to the limit.
  if (out.length > readMaxBytes) throw overLimit(readMaxBytes);
  return out;
}

/** Compresses `bytes` when `compression` is set and the message is at least `minBytes` long. */
export async function compressMessage(
  compression: Compression | undefined,
  bytes: Uint8Array,
  minBytes: number,
): Promise<{ bytes: Uint8Array; compressed: boolean }> {
  if (!compression || bytes.length < minBytes) return { bytes, compressed: false };
  return { bytes: await compression.compress(bytes), compressed: true };
}

/** The names in a `grpc-accept-encoding` value ("gzip, identity"), lowercased, without empties. */
export function parseEncodingList(value: string | undefined): string[] {
  if (!value) return [];
  return value
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s.length > 0);
}

// For error messages: every encoding a side takes, identity first.
function supportedEncodings(accept: readonly Compression[]): string {
  return [IDENTITY, ...accept.map((c) => c.name)].join(",");
}

/** The `grpc-accept-encoding` value a side sends for what it can decompress. */
export function acceptEncodingValue(accept: readonly Compression[]): string {
  return accept.map((c) => c.name).join(",");
}

export interface Negotiated {
  /** How the request messages are compressed (undefined: identity). */
  request: Compression | undefined;
  /** How the response messages will be compressed (undefined: identity). */
  response: Compression | undefined;
  /** Set when the request's encoding is not supported: the call ends with this status. */
  error?: { code: Status; message: string };
}

/**
 * Server side of gRPC compression: the request's `grpc-encoding` must be one this side accepts
 * (else UNIMPLEMENTED, and the trailers list what is accepted); responses use `send` if the
 * client's `grpc-accept-encoding` lists it, else the request's own encoding if listed there, else
 * identity (a client that lists nothing gets nothing compressed).
 */
export function negotiateCompression(
  accept: readonly Compression[],
  send: Compression | undefined,
  requestEncoding: string | undefined,
  requestAcceptEncoding: string | undefined,
): Negotiated {
  let request: Compression | undefined;
  const name = requestEncoding?.trim().toLowerCase();
  if (name && name !== IDENTITY) {
    request = accept.find((c) => c.name === name);
    if (!request) {
      const supported = supportedEncodings(accept);
      return {
        request: undefined,
        response: undefined,
        error: {
          code: Status.UNIMPLEMENTED,
          message: `grpc-encoding "${name}" is not supported (supported: ${supported})`,
        },
      };
    }
  }
  const accepted = parseEncodingList(requestAcceptEncoding);
  let response: Compression | undefined;
  if (send && accepted.includes(send.name)) response = send;
  else if (request && accepted.includes(request.name)) response = request;
  return { request, response };
}

/**
 * Client side of gRPC compression: the `Compression` for a response's `grpc-encoding`, or
 * undefined for identity (or none). An encoding the client did not list in its
 * `grpc-accept-encoding` is not refused at once, as grpc-js does: the server may still send every
 * message uncompressed. A message compressed with it fails INTERNAL, as gRPC requires.
 */
export function responseCompression(
  accept: readonly Compression[],
  responseEncoding: string | undefined,
): Compression | undefined {
  const name = responseEncoding?.trim().toLowerCase();
  if (!name || name === IDENTITY) return undefined;
  const found = accept.find((c) => c.name === name);
  if (found) return found;
  const refuse = (): Promise<Uint8Array> =>
    Promise.reject(
      new MessageError(
        Status.INTERNAL,
        `received a message compressed with "${name}", which this side does not accept (accepted: ${supportedEncodings(accept)})`,
      ),
    );
  return { name, compress: refuse, decompress: refuse };
}

import {
  DEFAULT_COMPRESS_MIN_BYTES,
  GRPC_ACCEPT_ENCODING,
  GRPC_ENCODING,
  acceptEncodingValue,
  getMetadata,
  responseCompression,
  type Compression,
  type MessageError,
  type Metadata,
  type Stream,
} from "@grpc-ws/wire";
import { MessageDeflater, MessageInflater, checkRange, type FlaggedSink } from "@grpc-ws/wire/internal";

/**
 * The transport's per-message compression (gRPC `grpc-encoding`, Connect's option names): what
 * every call sends in its request headers, how it compresses requests and inflates responses. The
 * ordered (de)compression itself is wire's, shared with the server.
 */
export interface ClientCompression {
  /** Encodings accepted for responses, most preferred first. */
  readonly accept: readonly Compression[];
  /** The encoding of request messages; undefined: identity. */
  readonly send: Compression | undefined;
  /** Request messages smaller than this go uncompressed. */
  readonly minBytes: number;
  /** `grpc-encoding` and `grpc-accept-encoding`, appended to every call's request metadata. */
  readonly headers: Metadata;
}

/** Reads the compression options of `createWebSocketTransport`; RangeError for a bad `compressMinBytes`. */
export function resolveCompression(
  accept: readonly Compression[] | undefined,
  send: Compression | null | undefined,
  compressMinBytes: number | undefined,
): ClientCompression {
  const minBytes = compressMinBytes ?? DEFAULT_COMPRESS_MIN_BYTES;
  checkRange("compressMinBytes", minBytes, 0, Number.MAX_SAFE_INTEGER);
  const accepted = [...(accept ?? [])];
  const headers: Metadata = [];
  if (send) headers.push([GRPC_ENCODING, send.name]);
  if (accepted.length > 0) headers.push([GRPC_ACCEPT_ENCODING, acceptEncodingValue(accepted)]);
  return { accept: accepted, send: send ?? undefined, minBytes, headers };
}

/**
 * The request side of one call: undefined when requests go uncompressed (no cost on that path),
 * else a deflater that hands `sink` each message, compressed or not, in order.
 */
export function requestDeflater(
  compression: ClientCompression,
  highWaterMark: number,
  sink: FlaggedSink,
  onDrain: () => void,
): MessageDeflater | undefined {
  if (compression.send === undefined) return undefined;
  return new MessageDeflater(compression.send, compression.minBytes, highWaterMark, sink, onDrain);
}

/**
 * The response side of one call, from its response headers: undefined for identity, else an
 * inflater over `stream` (which then lets compressed messages through) that inflates each one
 * under `maxMessageSize` (the decompressed size: a zip bomb fails ResourceExhausted).
 */
export function responseInflater(
  compression: ClientCompression,
  stream: Stream,
  headers: Metadata,
  maxMessageSize: number,
  onInflated: () => void,
  onError: (error: MessageError) => void,
): MessageInflater | undefined {
  const encoding = getMetadata(headers, GRPC_ENCODING);
  const c = responseCompression(compression.accept, typeof encoding === "string" ? encoding : undefined);
  if (c === undefined) return undefined;
  stream.acceptCompressed();
  return new MessageInflater(stream, c, maxMessageSize, onInflated, onError);
}

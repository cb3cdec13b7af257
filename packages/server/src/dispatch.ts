import { Code, ConnectError } from "@connectrpc/connect";
import {
  GRPC_ACCEPT_ENCODING,
  GRPC_ENCODING,
  GRPC_TIMEOUT,
  IDENTITY,
  Status,
  acceptEncodingValue,
  createTrailers,
  getMetadata,
  negotiateCompression,
  parseEncodingList,
  parseTimeout,
  type Compression,
  type Metadata,
} from "@grpc-ws/wire";
import type { CallForwarder, CallStream } from "./call.js";
import { CompressingCallStream, type CompressibleStream } from "./compression-stream.js";
import { InProcessCall, type CallEnvironment } from "./in-process-call.js";
import type { BridgeRouter } from "./router.js";
import { ServerCall, type CallOwner } from "./server-call.js";

/** Where calls go: the same for every front end (grpc-ws v1, grpc-websockets). */
export interface CallTargets {
  readonly router: BridgeRouter;
  readonly forwarder: CallForwarder | undefined;
  readonly compression: CompressionOptions;
}

/** How in-process calls compress (the bridge's `acceptCompression` and `compressMinBytes`). */
export interface CompressionOptions {
  readonly accept: readonly Compression[];
  readonly minBytes: number;
  /** The limit on a decompressed request message. */
  readonly maxMessageSize: number;
  readonly writeHighWaterMark: number;
}

/**
 * Starts one call whatever front end received it: arms its deadline and hands it to an in-process
 * handler, the upstream forwarder, or answers UNIMPLEMENTED. `track` sees the call before it
 * starts (it may end at once).
 */
export function startCall(
  stream: CallStream,
  path: string,
  headers: Metadata,
  env: CallOwner & CallEnvironment,
  targets: CallTargets,
  track: (call: ServerCall) => void,
): ServerCall {
  const startedAt = performance.now();
  const rawTimeout = getMetadata(headers, GRPC_TIMEOUT);
  const timeoutMs = typeof rawTimeout === "string" ? parseTimeout(rawTimeout) : undefined;
  // In-process calls decompress and compress here; forwarded calls pass compressed messages on.
  const compression = targets.router.routes.has(path) ? negotiate(headers, targets.compression) : undefined;
  const callStream = compression?.setup && isCompressible(stream) ? new CompressingCallStream(stream, compression.setup) : stream;
  const call = new ServerCall(callStream, path, headers, timeoutMs, startedAt, env);
  track(call);
  if (compression?.refusal) {
    const { code, message, acceptEncoding } = compression.refusal;
    // grpc-accept-encoding is a reserved name createTrailers leaves out of metadata: added after it.
    call.finish([...createTrailers(code, message), [GRPC_ACCEPT_ENCODING, acceptEncoding]], code, message);
    return call;
  }
  // A throw from here would reach the socket's event handler: keep it to this call.
  try {
    dispatch(call, rawTimeout, env, targets);
  } catch (error) {
    const message = "the server failed to start the call";
    call.fail(Status.INTERNAL, message, { error, abort: new ConnectError(message, Code.Internal) });
  }
  return call;
}

function dispatch(call: ServerCall, rawTimeout: string | Uint8Array | undefined, env: CallEnvironment, targets: CallTargets): void {
  const { path, timeoutMs } = call;
  if (rawTimeout !== undefined && timeoutMs === undefined) {
    return call.fail(Status.INVALID_ARGUMENT, `invalid grpc-timeout ${JSON.stringify(rawTimeout)}: expected 1-8 digits and a unit (H, M, S, m, u, n)`);
  }
  const route = targets.router.routes.get(path);
  if (route) {
    if (timeoutMs !== undefined && timeoutMs > route.maxTimeoutMs) {
      return call.fail(Status.INVALID_ARGUMENT, `grpc-timeout of ${timeoutMs} ms exceeds the server's maximum of ${route.maxTimeoutMs} ms`);
    }
    return new InProcessCall(call, route, env).start();
  }
  const forwarder = targets.forwarder;
  if (forwarder?.handles(path)) {
    call.forwarded = true;
    return forwarder.forward(call);
  }
  call.fail(Status.UNIMPLEMENTED, targets.router.unimplementedMessage(path));
}

interface Negotiation {
  setup?: ConstructorParameters<typeof CompressingCallStream>[1];
  refusal?: { code: Status; message: string; acceptEncoding: string };
}

// gRPC compression (grpc/grpc doc/compression.md): the request's grpc-encoding must be one the
// bridge accepts; responses use the request's encoding when the client accepts it, else the first
// accepted one the client lists.
function negotiate(headers: Metadata, options: CompressionOptions): Negotiation | undefined {
  const encoding = getMetadata(headers, GRPC_ENCODING);
  const accepts = getMetadata(headers, GRPC_ACCEPT_ENCODING);
  const requested = typeof encoding === "string" ? encoding : undefined;
  const listed = typeof accepts === "string" ? parseEncodingList(accepts) : [];
  if ((requested === undefined || requested === IDENTITY) && listed.length === 0) return undefined;
  const send = options.accept.find((c) => listed.includes(c.name));
  const n = negotiateCompression(options.accept, send, requested, typeof accepts === "string" ? accepts : undefined);
  const acceptEncoding = acceptEncodingValue(options.accept);
  if (n.error) return { refusal: { ...n.error, acceptEncoding } };
  if (!n.request && !n.response) return undefined;
  return {
    setup: { request: n.request, response: n.response, acceptEncoding, compressMinBytes: options.minBytes, maxMessageSize: options.maxMessageSize, writeHighWaterMark: options.writeHighWaterMark },
  };
}

function isCompressible(stream: CallStream): stream is CompressibleStream {
  return typeof (stream as Partial<CompressibleStream>).acceptCompressed === "function";
}

import type { ContextValues } from "@connectrpc/connect";
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
import type { ConnectionInfo } from "./access/connection-info.js";
import { CompressingCallStream, type CompressibleStream, type CompressionSetup } from "./compression-stream.js";
import { InProcessCall } from "./in-process-call.js";
import type { CallEndInfo } from "./options.js";
import type { BridgeRouter } from "./router.js";
import { ServerCall, type CallEnded, type CallStream } from "./server-call.js";
import type { BridgeTelemetry } from "./telemetry/bridge-telemetry.js";
import type { Forwarder } from "./upstream/index.js";

/** Where calls go: the same for every front end (grpc-ws v1, grpc-websockets). */
export interface CallTargets {
  readonly router: BridgeRouter;
  readonly forwarder: Forwarder | undefined;
  readonly compression: CompressionOptions;
  /** Spans and metrics of every call (the bridge's `telemetry` option). */
  readonly telemetry: BridgeTelemetry | undefined;
}

/** How in-process calls compress (the bridge's `acceptCompression` and `compressMinBytes`). */
export interface CompressionOptions {
  readonly accept: readonly Compression[];
  readonly minBytes: number;
  /** The limit on a decompressed request message. */
  readonly maxMessageSize: number;
  readonly writeHighWaterMark: number;
}

/** What the front end that received a call knows about its client. */
export interface CallSource {
  /** "http://host" of the upgrade request. */
  readonly origin: string;
  /** The client's largest accepted message. */
  readonly peerMaxMessageSize: number;
  /** The connection the call came on: its identity and upgrade request (access control). */
  readonly connection: ConnectionInfo;
  /** Context values for an in-process call (the bridge's `contextValues` option); called when the handler first reads `ctx.values`. */
  contextValues(): ContextValues;
  /** The bridge has a `contextValues` hook: it runs at the start of every in-process call. */
  readonly userContextValues: boolean;
}

/** Tells the bridge's `onCallEnd` hook about one finished call, from either front end; the hook must not break the call. */
export function reportCallEnd(
  hook: ((info: CallEndInfo) => void) | undefined,
  call: ServerCall,
  code: Status,
  message: string,
  error: unknown,
  connection: ConnectionInfo,
): void {
  if (!hook) return;
  try {
    hook({
      method: call.path,
      code,
      message,
      durationMs: performance.now() - call.startedAt,
      forwarded: call.forwarded,
      error,
      connection,
    });
  } catch {
    // A logging hook must not break the call it reports on.
  }
}

/**
 * Starts one call whatever front end received it: arms its deadline, negotiates compression, and
 * hands it to an in-process handler, the upstream forwarder, or answers UNIMPLEMENTED: the one
 * routing decision. `track` sees the call before it starts (it may end at once).
 */
export function startCall(
  stream: CallStream,
  path: string,
  headers: Metadata,
  source: CallSource,
  targets: CallTargets,
  onEnded: CallEnded,
  track: (call: ServerCall) => void,
): ServerCall {
  const startedAt = performance.now();
  const rawTimeout = getMetadata(headers, GRPC_TIMEOUT);
  const timeoutMs = typeof rawTimeout === "string" ? parseTimeout(rawTimeout) : undefined;
  // In-process calls decompress and compress here; forwarded calls pass compressed messages on.
  const route = targets.router.routes.get(path);
  const compression = route ? negotiate(headers, targets.compression) : undefined;
  const callStream =
    compression?.setup && isCompressible(stream) ? new CompressingCallStream(stream, compression.setup) : stream;
  // The OpenTelemetry API never throws, so the span can start before the call exists; it ends before `onEnded` reports.
  const t = targets.telemetry?.startCall(path, headers, source.connection, startedAt);
  const ended: CallEnded = t
    ? (c, code, message, error) => {
        t.end(code, message, error);
        onEnded(c, code, message, error);
      }
    : onEnded;
  const call = new ServerCall(
    callStream,
    { path, headers, timeoutMs, startedAt, connection: source.connection },
    ended,
    t,
  );
  track(call);
  // A throw from here would reach the socket's event handler: keep it to this call.
  const dispatch = (): void => {
    try {
      if (rawTimeout !== undefined && timeoutMs === undefined) {
        call.end({
          code: Status.INVALID_ARGUMENT,
          message: `invalid grpc-timeout ${JSON.stringify(rawTimeout)}: expected 1-8 digits and a unit (H, M, S, m, u, n)`,
        });
      } else if (compression?.refusal) {
        const { code, message, acceptEncoding } = compression.refusal;
        // grpc-accept-encoding is a reserved name createTrailers leaves out of metadata: added after it.
        call.end({
          code,
          message,
          trailers: [...createTrailers(code, message), [GRPC_ACCEPT_ENCODING, acceptEncoding]],
        });
      } else if (route) {
        if (timeoutMs !== undefined && timeoutMs > route.maxTimeoutMs) {
          call.end({
            code: Status.INVALID_ARGUMENT,
            message: `grpc-timeout of ${timeoutMs} ms exceeds the server's maximum of ${route.maxTimeoutMs} ms`,
          });
        } else {
          // The handler runs with the call's span active, so spans it starts are children of it.
          const scope = t ? (fn: () => void) => t.run(fn) : undefined;
          new InProcessCall(call, route, source, scope).start();
        }
      } else {
        const forward = targets.forwarder?.route(path);
        if (forward) {
          call.forwarded = true;
          // The upstream's span joins the trace as a child of the bridge's.
          t?.injectInto(call.headers);
          forward(call);
        } else {
          call.end({ code: Status.UNIMPLEMENTED, message: targets.router.unimplementedMessage(path) });
        }
      }
    } catch (error) {
      call.end({ code: Status.INTERNAL, message: "the server failed to start the call", error, abort: true });
    }
  };
  if (t) t.run(dispatch);
  else dispatch();
  return call;
}

interface Negotiation {
  setup?: CompressionSetup;
  refusal?: { code: Status; message: string; acceptEncoding: string };
}

// gRPC compression (grpc/grpc doc/compression.md): the request's grpc-encoding must be one the
// bridge accepts; responses use the request's encoding when the client accepts it, else the first
// accepted one the client lists.
function negotiate(headers: Metadata, options: CompressionOptions): Negotiation | undefined {
  const encoding = getMetadata(headers, GRPC_ENCODING);
  const accepts = getMetadata(headers, GRPC_ACCEPT_ENCODING);
  const requested = typeof encoding === "string" ? encoding : undefined;
  const accepted = typeof accepts === "string" ? accepts : undefined;
  const listed = parseEncodingList(accepted);
  if ((requested === undefined || requested === IDENTITY) && listed.length === 0) return undefined;
  const send = options.accept.find((c) => listed.includes(c.name));
  const n = negotiateCompression(options.accept, send, requested, accepted);
  const acceptEncoding = acceptEncodingValue(options.accept);
  if (n.error) return { refusal: { ...n.error, acceptEncoding } };
  if (!n.request && !n.response) return undefined;
  return {
    setup: {
      request: n.request,
      response: n.response,
      acceptEncoding,
      compressMinBytes: options.minBytes,
      maxMessageSize: options.maxMessageSize,
      writeHighWaterMark: options.writeHighWaterMark,
    },
  };
}

function isCompressible(stream: CallStream): stream is CompressibleStream {
  return typeof (stream as Partial<CompressibleStream>).acceptCompressed === "function";
}

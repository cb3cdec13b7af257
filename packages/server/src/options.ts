import type { IncomingMessage } from "node:http";
import type { BinaryReadOptions, BinaryWriteOptions } from "@bufbuild/protobuf";
import type { ConnectRouter, ContextValues, Interceptor } from "@connectrpc/connect";
import {
  DEFAULT_COMPRESS_MIN_BYTES,
  resolveBudgets,
  resolveSettings,
  type Budgets,
  type Compression,
  type KeepaliveOptions,
  type Settings,
  type Status,
  type TraceSink,
} from "@grpc-ws/wire";
import { checkRange, resolveKeepalive, traceFromEnv } from "@grpc-ws/wire/internal";
import type { AuthenticateHook } from "./access/authenticate.js";
import type { ConnectionCloseInfo, ConnectionInfo } from "./access/connection-info.js";
import type { OriginPolicy } from "./access/origin.js";
import type { RefusalInfo } from "./access/refusal.js";
import { gzipNode } from "./compression-gzip.js";
import { resolveConnectionAge, type ConnectionAgeOptions, type ResolvedConnectionAge } from "./connection-age.js";
import { resolveLimits, type ConnectionLimits, type ResolvedLimits } from "./limits/options.js";
import type { TelemetryOptions } from "./telemetry/options.js";
import type { UpstreamConfig } from "./upstream/config.js";

/** What `onCallEnd` reports about one finished call. */
export interface CallEndInfo {
  /** "/package.Service/Method". */
  method: string;
  /** The status the client was sent (or, for a cancel or lost connection, CANCELLED / UNAVAILABLE). */
  code: Status;
  /** The status message, decoded (percent-encoding undone). */
  message: string;
  /** Milliseconds from the arrival of the request HEADERS to the end of the call. */
  durationMs: number;
  /** True when the call went to the upstream gRPC server. */
  forwarded: boolean;
  /**
   * What the handler threw, for the server's own logs. Errors that are not a `ConnectError`
   * reach the client only as UNKNOWN with a generic message.
   */
  error?: unknown;
  /** The connection the call came on: its id (the same on every call of it), identity and upgrade request (peer address in `request`). */
  connection: ConnectionInfo;
}

export interface WebSocketBridgeOptions {
  /**
   * Registers in-process services, exactly like a `routes` function written for connect-node.
   * `interceptors` in the options of `router.service()` / `router.rpc()` apply to those methods,
   * inside the bridge's own `interceptors`.
   */
  routes?: (router: ConnectRouter) => void;
  /**
   * Connect interceptors around every in-process call (authentication, logging, ...), like
   * `connectNodeAdapter({ interceptors })`. The first is outermost; a service's or rpc's own
   * `interceptors` run inside them (in Connect, they would replace them). They see decoded
   * messages, so calls forwarded to `upstream` do not pass through them: use its `onRequest` hook.
   */
  interceptors?: Interceptor[];
  /** Calls that no in-process method serves go here (gateway mode). */
  upstream?: UpstreamConfig;
  /** This side's wire settings, sent to every client (windows, stream and size limits). */
  settings?: Partial<Settings>;
  /**
   * PING a connection idle for `intervalMs`; drop it when no ack comes within `timeoutMs`
   * (grpc-websockets sockets: WebSocket pings and pongs). Default 30 s / 10 s; false disables.
   */
  keepalive?: KeepaliveOptions | false;
  /**
   * How long a new connection may take to send its SETTINGS frame (the first thing a client
   * sends) before it is closed with GOAWAY SETTINGS_TIMEOUT and close code 1002. Default 10000 ms;
   * 0 disables.
   */
  settingsTimeoutMs?: number;
  /** How long `close()` lets in-flight calls finish before cancelling them. Default 5000 ms. */
  drainTimeoutMs?: number;
  /** Queued outbound bytes per stream before a handler is paused. Default 64 KiB. */
  writeHighWaterMark?: number;
  /**
   * Bytes handed to a socket and not yet written before the connection stops framing DATA and
   * stops reading from the socket, until it has written what it holds. Default 1 MiB.
   */
  socketHighWaterMark?: number;
  /**
   * Compression algorithms in-process calls accept (gRPC `grpc-encoding`), in order of preference
   * for responses: a response is compressed with the request's encoding when the client accepts
   * it, else with the first of these the client lists in `grpc-accept-encoding`. Connect's
   * `Compression` objects work too (e.g. `compressionGzip` of connect-node). A request in another
   * encoding gets UNIMPLEMENTED. Default: `[gzip]` (Node's zlib); `[]` turns compression off.
   * Forwarded calls pass compressed messages to the upstream unchanged.
   */
  acceptCompression?: Compression[];
  /** Responses smaller than this many bytes are sent uncompressed. Default 1024. */
  compressMinBytes?: number;
  /** Options for decoding request messages of in-process methods with `fromBinary`. */
  readBinaryOptions?: Partial<BinaryReadOptions>;
  /** Options for encoding response messages of in-process methods with `toBinary`. */
  writeBinaryOptions?: Partial<BinaryWriteOptions>;
  /** Largest WebSocket message accepted. Default: enough for a full connection window of DATA plus headers for every stream. */
  maxPayload?: number;
  /**
   * Which browser pages may connect, by their `Origin` header. Default `"same-origin"`: a page of
   * another origin gets HTTP 403 before any WebSocket exists (cross-site WebSocket hijacking);
   * upgrades without `Origin` (Node, native apps) are not affected. See `OriginPolicy`.
   */
  allowedOrigins?: OriginPolicy;
  /**
   * Authenticates each upgrade (headers, cookies, URL, remote address, TLS state, offered
   * subprotocols and the bearer token of `grpc-ws.bearer.<base64url>`) before it becomes a
   * connection; what it returns is the connection's identity. Default: none (every upgrade that
   * passes `allowedOrigins` is let in). See `AuthenticateHook`.
   */
  authenticate?: AuthenticateHook;
  /** How long `authenticate` may take before the upgrade is refused with 503 (`Unavailable`). Default 5000 ms. */
  authenticateTimeoutMs?: number;
  /** Called for every refused upgrade (origin or authentication), for logs and metrics. Default: one `console.warn` line each. Must not throw. */
  onRefused?: (info: RefusalInfo) => void;
  /**
   * Context values for each in-process call, from the HTTP upgrade request of its connection
   * (cookies, client address, ...) and the connection's info. The bridge adds `connectionKey` to them.
   */
  contextValues?: (request: IncomingMessage, connection: ConnectionInfo) => ContextValues;
  /** Called once per call when it ends, however it ends. Must not throw. */
  onCallEnd?: (info: CallEndInfo) => void;
  /** Connection limits: counts, idle and handshake timeouts, slow readers. Every field has a default (docs/SECURITY.md). */
  limits?: ConnectionLimits;
  /**
   * Per-connection budgets of the cost model (`DEFAULT_BUDGETS` of `@grpc-ws/wire`): calls
   * started, resets, refused streams, PINGs, empty frames and messages, window updates, metadata
   * entries, queued messages, held bytes. Exhausting one ends the connection with GOAWAY
   * ENHANCE_YOUR_CALM (close 1002). docs/SECURITY.md lists each with its default.
   */
  budgets?: Partial<Budgets>;
  /** Called when a WebSocket connection opens (after the upgrade). Exceptions are ignored. */
  onConnectionOpen?: (info: ConnectionInfo) => void;
  /** Called once when a connection's socket has closed, however it closed. Exceptions are ignored. */
  onConnectionClose?: (info: ConnectionCloseInfo) => void;
  /** OpenTelemetry spans and metrics for every call and the bridge's own gauges. Default: none. */
  telemetry?: TelemetryOptions;
  /** Drain each connection after an age (gRPC's MAX_CONNECTION_AGE) so clients rebalance. Default: never. */
  maxConnectionAge?: ConnectionAgeOptions;
  /**
   * Trace hook: called with one line per frame in (`<`) and out (`>`) and per stream state change,
   * on every connection. Default: lines on stderr when the environment variable `GRPC_WS_TRACE` is
   * set, else off.
   */
  trace?: (line: string) => void;
}

const DEFAULT_DRAIN_TIMEOUT_MS = 5_000;
const DEFAULT_SETTINGS_TIMEOUT_MS = 10_000;
const DEFAULT_WRITE_HIGH_WATER_MARK = 64 * 1024;
const DEFAULT_SOCKET_HIGH_WATER_MARK = 1024 * 1024;

/** The bridge's options, checked and with their defaults: the one place they are read. */
export interface ResolvedBridgeOptions {
  settings: Settings;
  keepalive: KeepaliveOptions | undefined;
  settingsTimeoutMs: number;
  drainTimeoutMs: number;
  writeHighWaterMark: number;
  socketHighWaterMark: number;
  maxPayload: number;
  trace: TraceSink | undefined;
  connectionAge: ResolvedConnectionAge | undefined;
  limits: ResolvedLimits;
  budgets: Budgets;
  acceptCompression: Compression[];
  compressMinBytes: number;
}

/** Reads the bridge's options; throws RangeError for a bad number (NaN included), as the client does. */
export function resolveBridgeOptions(options: WebSocketBridgeOptions): ResolvedBridgeOptions {
  const settings = resolveSettings(options.settings);
  const settingsTimeoutMs = options.settingsTimeoutMs ?? DEFAULT_SETTINGS_TIMEOUT_MS;
  checkRange("settingsTimeoutMs", settingsTimeoutMs, 0);
  const drainTimeoutMs = options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
  checkDrainTimeout(drainTimeoutMs);
  const writeHighWaterMark = options.writeHighWaterMark ?? DEFAULT_WRITE_HIGH_WATER_MARK;
  checkRange("writeHighWaterMark", writeHighWaterMark, 1, Number.MAX_SAFE_INTEGER);
  const socketHighWaterMark = options.socketHighWaterMark ?? DEFAULT_SOCKET_HIGH_WATER_MARK;
  checkRange("socketHighWaterMark", socketHighWaterMark, 1, Number.MAX_SAFE_INTEGER);
  // A client coalesces a tick's frames into one message: a full connection window of DATA plus
  // request headers for every stream it may open, and room for control frames.
  const maxPayload =
    options.maxPayload ??
    settings.initialConnectionWindow + settings.maxConcurrentStreams * (settings.maxMetadataSize + 64) + 1024 * 1024;
  checkRange("maxPayload", maxPayload, 1, Number.MAX_SAFE_INTEGER);
  const compressMinBytes = options.compressMinBytes ?? DEFAULT_COMPRESS_MIN_BYTES;
  checkRange("compressMinBytes", compressMinBytes, 0, Number.MAX_SAFE_INTEGER);
  return {
    settings,
    keepalive: resolveKeepalive(options.keepalive),
    settingsTimeoutMs,
    drainTimeoutMs,
    writeHighWaterMark,
    socketHighWaterMark,
    maxPayload,
    trace: options.trace ?? traceFromEnv(),
    connectionAge: resolveConnectionAge(options.maxConnectionAge),
    limits: resolveLimits(options.limits),
    budgets: resolveBudgets(options.budgets),
    acceptCompression: [...(options.acceptCompression ?? [gzipNode])],
    compressMinBytes,
  };
}

/** `close({ drainTimeoutMs })` is checked like the option. */
export function checkDrainTimeout(ms: number): void {
  checkRange("drainTimeoutMs", ms, 0);
}

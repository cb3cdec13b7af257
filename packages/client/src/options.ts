import type { BinaryReadOptions, BinaryWriteOptions } from "@bufbuild/protobuf";
import type { Interceptor } from "@connectrpc/connect";
import {
  resolveSettings,
  type Compression,
  type KeepaliveOptions,
  type Settings,
  type TelemetryOptions,
  type TraceSink,
} from "@grpc-ws/wire";
import { checkRange, resolveKeepalive, traceFromEnv, withDefaults } from "@grpc-ws/wire/internal";
import { defaultWebSocket, type WebSocketConstructor } from "./websocket.js";
import type { TokenSource } from "./credentials.js";
import { resolveCompression, type ClientCompression } from "./compression.js";

/**
 * Where the transport's connection stands.
 * - `idle`: no connection; the next call (or `connect()`) opens one.
 * - `connecting`: the WebSocket is opening, or waiting for the server's SETTINGS.
 * - `open`: calls flow.
 * - `backoff`: the last attempt failed; the next one waits for the backoff delay.
 * - `refused`: the server refused the last attempt (authentication, permission: its calls failed
 *   with the server's code and message); the next one waits for the backoff delay, as in `backoff`.
 * - `closed`: `close()` was called; every call fails.
 */
export type ConnectionState = "idle" | "connecting" | "open" | "backoff" | "refused" | "closed";

/** Exponential backoff between failed connection attempts (gRPC's connection-backoff scheme). */
export interface ReconnectOptions {
  /** Delay after the first failed attempt. Default 1000 ms. */
  initialDelayMs: number;
  /** Upper bound of the delay. Default 30000 ms. */
  maxDelayMs: number;
  /** Each further failure multiplies the delay by this. Default 1.6. */
  multiplier: number;
  /** The delay is randomized by +- this fraction, so that many clients do not retry in lockstep. Default 0.2. */
  jitter: number;
}

/**
 * Application-level liveness checks (browsers cannot send WebSocket pings): the wire's
 * `KeepaliveOptions`. Defaults in `DEFAULT_KEEPALIVE`: `intervalMs` 30000, `timeoutMs` 10000.
 * When the PING ack takes longer than `timeoutMs`, in-flight calls fail with `Unavailable`.
 */
export type KeepaliveSettings = KeepaliveOptions;

/** Options of `createWebSocketTransport`; only `url` is required. */
export interface WebSocketTransportOptions {
  /** The bridge's endpoint, `ws://` or `wss://` (for example `wss://example.com/grpc`). */
  url: string;
  /**
   * Interceptors in Connect's shape, applied around every unary and streaming call; the first
   * in the array is the outermost. `req.signal` is the caller's signal (a never-aborting one when
   * the caller passed none); deadlines are enforced by the transport itself.
   */
  interceptors?: Interceptor[];
  /** Options for decoding response messages with `fromBinary`. */
  readBinaryOptions?: Partial<BinaryReadOptions>;
  /** Options for encoding request messages with `toBinary`. */
  writeBinaryOptions?: Partial<BinaryWriteOptions>;
  /**
   * Largest response message (bytes, without the 5-byte prefix) this client accepts; larger ones
   * fail the call with `ResourceExhausted`. Advertised to the server in SETTINGS. Default 4 MiB.
   */
  maxMessageSize?: number;
  /**
   * Compression algorithms this client accepts for response messages, most preferred first
   * (Connect's option): listed in every call's `grpc-accept-encoding`, so a server may compress its
   * responses with one of them. A response message is inflated under `maxMessageSize`, counted on
   * the decompressed bytes while inflating. Any Connect `Compression` works (connect-node's
   * `compressionGzip`, for instance; wire's `gzip` is built on the platform's
   * `CompressionStream`/`DecompressionStream`, in browsers and Node >= 18). Default `[]`:
   * uncompressed responses, which are faster wherever the link is not the bottleneck (see the
   * client README's Compression section); `[gzip]` lets a server compress them.
   */
  acceptCompression?: Compression[];
  /**
   * Compresses request messages with this algorithm and names it in `grpc-encoding` (Connect's
   * option). A server that does not accept it fails the call with `Unimplemented`. Default none:
   * requests go uncompressed, since not every server accepts compression.
   */
  sendCompression?: Compression | null;
  /**
   * Request messages smaller than this many bytes are sent uncompressed even with
   * `sendCompression` (Connect's option). Default 1024.
   */
  compressMinBytes?: number;
  /** Further SETTINGS this client advertises (windows, frame size, ...). `maxMessageSize` wins over `settings.maxMessageSize`. */
  settings?: Partial<Settings>;
  /** Keepalive PINGs; `false` turns them off. Default `{ intervalMs: 30000, timeoutMs: 10000 }`. */
  keepalive?: KeepaliveSettings | false;
  /**
   * How long opening a connection may take, from creating the WebSocket until the server's
   * SETTINGS arrived; the attempt then fails and calls waiting for it fail with `Unavailable`.
   * Default 10000 ms.
   */
  connectTimeoutMs?: number;
  /** Backoff between failed connection attempts while the server stays unreachable. */
  reconnect?: Partial<ReconnectOptions>;
  /**
   * A bearer token for the server's `authenticate` hook, offered in the subprotocol list as
   * `grpc-ws.bearer.<base64url of the token>` beside `grpc-ws.v1` (browsers cannot set headers on
   * a WebSocket, and a token in the URL ends up in logs). A string, or a function (may be async)
   * called before every connection attempt, so that reconnecting after the server ended an
   * expired connection sends a fresh token. A function that throws fails the attempt's calls with
   * its `ConnectError`, or `Unauthenticated`. Default: none.
   */
  token?: TokenSource;
  /**
   * Node only: HTTP headers for the upgrade request (`cookie`, `authorization`, ...), for
   * server-to-server use. Needs the `ws` implementation (the default in Node when this is set);
   * creating a transport with it in a browser throws TypeError. Default: none.
   */
  headers?: Readonly<Record<string, string>>;
  /**
   * The WebSocket implementation. Default: `ws` (through `isomorphic-ws`) in Node, whose socket
   * is unref'd while no call is open so that an idle client lets the process exit; the global
   * `WebSocket` elsewhere (browsers). It must implement the WHATWG interface (`binaryType`,
   * `onopen`/`onmessage`/`onerror`/`onclose`, `send`, `close`, `bufferedAmount`); it is called as
   * `new WebSocket(url, ["grpc-ws.v1", ...], { perMessageDeflate: false, headers })` (browsers ignore the third argument).
   */
  webSocket?: WebSocketConstructor;
  /**
   * Trace hook: called with one line per frame in (`<`) and out (`>`), per stream state change
   * and per connection state change. Default: lines on stderr when the environment variable
   * `GRPC_WS_TRACE` is set (Node), else off.
   */
  trace?: (line: string) => void;
  /**
   * OpenTelemetry: a CLIENT span per call, `traceparent` in its metadata, call-duration and
   * calls-started metrics. Pass the `@opentelemetry/api` module as `api`. Default: none.
   */
  telemetry?: TelemetryOptions;
}

/** The backoff used for every `ReconnectOptions` field the caller leaves out. */
export const DEFAULT_RECONNECT: Readonly<ReconnectOptions> = Object.freeze({
  initialDelayMs: 1000,
  maxDelayMs: 30_000,
  multiplier: 1.6,
  jitter: 0.2,
});

export { DEFAULT_KEEPALIVE } from "@grpc-ws/wire";

/** Default of `WebSocketTransportOptions.connectTimeoutMs`. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** Every option of `createWebSocketTransport`, checked and with its default: the one place they are read. */
export interface ResolvedTransportOptions {
  url: string;
  settings: Partial<Settings>;
  keepalive: KeepaliveOptions | undefined;
  reconnect: ReconnectOptions;
  connectTimeoutMs: number;
  webSocket: WebSocketConstructor;
  trace: TraceSink | undefined;
  token: TokenSource | undefined;
  headers: Readonly<Record<string, string>> | undefined;
  compression: ClientCompression;
}

/** Reads the options; throws TypeError for a bad URL and RangeError for a bad number (NaN included), now rather than at the first call. */
export function resolveTransportOptions(options: WebSocketTransportOptions): ResolvedTransportOptions {
  const url = options.url;
  if (!/^wss?:\/\//i.test(url))
    throw new TypeError(`grpc-ws url must start with ws:// or wss://, got ${JSON.stringify(url)}`);
  const settings = { ...options.settings };
  if (options.maxMessageSize !== undefined) settings.maxMessageSize = options.maxMessageSize;
  resolveSettings(settings); // throws RangeError for a bad setting
  const reconnect = withDefaults(DEFAULT_RECONNECT, options.reconnect);
  checkRange("reconnect.initialDelayMs", reconnect.initialDelayMs, 0);
  checkRange("reconnect.maxDelayMs", reconnect.maxDelayMs, 0);
  checkRange("reconnect.multiplier", reconnect.multiplier, 1, Number.MAX_VALUE);
  checkRange("reconnect.jitter", reconnect.jitter, 0, 1);
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  checkRange("connectTimeoutMs", connectTimeoutMs, 1);
  return {
    url,
    settings,
    keepalive: resolveKeepalive(options.keepalive),
    reconnect,
    connectTimeoutMs,
    webSocket: options.webSocket ?? defaultWebSocket(options.headers),
    trace: options.trace ?? traceFromEnv(),
    token: options.token,
    headers: options.headers,
    compression: resolveCompression(options.acceptCompression, options.sendCompression, options.compressMinBytes),
  };
}

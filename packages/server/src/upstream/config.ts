import type { Metadata, Status } from "@grpc-ws/wire";
import type { ConnectionInfo } from "../access/connection-info.js";

/**
 * Where the gateway forwards calls that no in-process service handles:
 *
 * - `"http://host:port"` (or a `URL`): every call goes to this gRPC server;
 * - one {@link UpstreamTarget}: the same, with options (TLS, unix socket, keepalive, hooks, ...);
 * - an array of targets: each call goes to the first target whose `services` list names its
 *   service (a target without `services` takes every call that reaches it);
 * - an {@link UpstreamRouter}: your own function picks the target per call.
 *
 * A call that matches no target is not forwarded: the bridge answers UNIMPLEMENTED.
 */
export type UpstreamConfig = string | URL | UpstreamTarget | readonly UpstreamTarget[] | UpstreamRouter;

/** Context of {@link UpstreamHooks.onRequest}. */
export interface UpstreamRequestContext {
  /** "/package.Service/Method". */
  readonly path: string;
  /**
   * Request metadata as the client sent it, without `grpc-timeout` (the gateway sets that
   * itself from the remaining deadline). `-bin` values are raw bytes. Mutate it in place or
   * return a new list.
   */
  readonly headers: Metadata;
  /** The upstream the call goes to, as its target URL (`href`). */
  readonly upstream: string;
  /**
   * The connection the call came on: `identity` from the bridge's `authenticate` hook and the
   * upgrade request (`request.cookies`, `request.remoteAddress`, `request.headers`), e.g. to turn
   * an HttpOnly session cookie into `authorization` and to add `x-forwarded-for`.
   */
  readonly connection: ConnectionInfo;
}

/** One finished forwarded call, for logging and metrics. */
export interface UpstreamCallInfo {
  /** "/package.Service/Method". */
  readonly method: string;
  /** The status the client got (CANCELLED when the client cancelled, DEADLINE_EXCEEDED when its deadline passed). */
  readonly code: Status;
  /** The status message, decoded (not percent-encoded). */
  readonly message: string;
  /** From the arrival of the request HEADERS at the bridge to the end of the call. */
  readonly durationMs: number;
  /** The upstream's target URL (`href`). */
  readonly upstream: string;
  /** The connection the call came on. */
  readonly connection: ConnectionInfo;
}

/** Per-call hooks. On an {@link UpstreamRouter} they see every call; on a target, the calls it takes. */
export interface UpstreamHooks {
  /**
   * Runs before a call goes upstream: add, change or strip request metadata (e.g. turn a
   * session cookie into `authorization`, drop headers that must not leave the edge). Return a
   * new list to replace the headers, or nothing to keep `ctx.headers` (mutated or not).
   * May return a promise. Throwing (or rejecting) ends the call before it reaches the upstream:
   * an error with a numeric gRPC `code` (a Connect `ConnectError`, for example) gives that status
   * and its message, anything else INTERNAL. When a router and a target both have the hook, the
   * router's runs first.
   */
  onRequest?(ctx: UpstreamRequestContext): Metadata | void | Promise<Metadata | void>;
  /** Runs once per forwarded call when it ends, however it ends. Exceptions are ignored. */
  onCallEnd?(info: UpstreamCallInfo): void;
}

/** TLS toward the upstream (`https:` targets). Options of `tls.connect`. */
export interface UpstreamTlsOptions {
  /** Trusted CA certificates (PEM); default: Node's bundled roots. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Client certificate chain (PEM) for mutual TLS. */
  cert?: string | Buffer | Array<string | Buffer>;
  /** Private key (PEM) of `cert`. */
  key?: string | Buffer | Array<string | Buffer>;
  /**
   * SNI name and the name the certificate is checked against; default: the target's host name
   * (for an IP address no SNI is sent and the certificate must name the IP).
   */
  servername?: string;
  /** Reject a certificate that does not verify. Default true; set false only for local testing. */
  rejectUnauthorized?: boolean;
}

/** HTTP/2 PINGs on the upstream connection, so a dead upstream is noticed between calls too. */
export interface UpstreamKeepalive {
  /** Send a PING this often. */
  intervalMs: number;
  /** Close the connection (in-flight calls end UNAVAILABLE) when an ack takes longer than this. */
  timeoutMs: number;
}

/** One upstream gRPC server. */
export interface UpstreamTarget extends UpstreamHooks {
  /**
   * `http://host:port` (cleartext HTTP/2, "h2c") or `https://host:port` (TLS with ALPN h2).
   * Only the origin is used; `:authority` is its host:port.
   */
  target: string | URL;
  /**
   * Fully-qualified service names this target serves, e.g. `["grpc.testing.TestService"]`.
   * Omitted: every call that reaches this target.
   */
  services?: readonly string[];
  /** TLS options for an `https:` target. */
  tls?: UpstreamTlsOptions;
  /** Connect to this unix domain socket instead of the target's host and port (which still give `:authority`). */
  socketPath?: string;
  /** Override `:authority` (default: the target's host:port). */
  authority?: string;
  /**
   * PING the upstream while calls are in flight, so that a hung upstream fails them UNAVAILABLE
   * within `intervalMs + timeoutMs`. Default `{ intervalMs: 300000, timeoutMs: 20000 }` (grpc-core
   * and grpc-go servers refuse faster pings by default); `false` turns it off.
   */
  keepalive?: UpstreamKeepalive | false;
  /** Close the connection after this long without calls; the next call reconnects. Default: keep it open. */
  maxSessionIdleMs?: number;
  /** Give up connecting after this long; the waiting calls end UNAVAILABLE. Default 10 000 ms. */
  connectTimeoutMs?: number;
  /** Largest response message (bytes, without prefix) taken from the upstream; larger ends RESOURCE_EXHAUSTED. Default 4 MiB. */
  maxMessageSize?: number;
}

/** Picks the upstream per call. */
export interface UpstreamRouter extends UpstreamHooks {
  /**
   * Returns the target for a call path ("/package.Service/Method"), or undefined to leave the
   * call unforwarded (UNIMPLEMENTED). Called once per call, so keep it cheap. Throwing, or
   * returning a target whose URL is not http:/https:, ends the call INTERNAL ("upstream routing
   * failed for <path>: <message>"). Connections are shared per target URL and socket path; the
   * options of the first target seen for a pair apply.
   */
  route(path: string): UpstreamTarget | string | URL | undefined;
}

export function isRouter(config: UpstreamConfig): config is UpstreamRouter {
  return (
    typeof config === "object" &&
    !(config instanceof URL) &&
    !Array.isArray(config) &&
    typeof (config as UpstreamRouter).route === "function"
  );
}

/** Parses and checks a target URL; throws TypeError for anything but http: / https:. */
export function targetUrl(target: string | URL): URL {
  const url = typeof target === "string" ? new URL(target) : target;
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`upstream target ${url.href} must be an http: or https: URL`);
  }
  return url;
}

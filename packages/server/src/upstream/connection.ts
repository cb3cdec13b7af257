import http2 from "node:http2";
import net from "node:net";
import tls from "node:tls";
import type { UpstreamKeepalive, UpstreamTarget } from "./config.js";

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/**
 * Upstream keepalive unless told otherwise: a PING every 5 min while calls are in flight, 20 s
 * for its ack. Five minutes is the least grpc-core and grpc-go servers accept by default
 * (`min_recv_ping_interval_without_data`, `EnforcementPolicy.MinTime`): faster pings on a quiet
 * call get GOAWAY "too_many_pings". Servers that allow more (grpc-js does) can be pinged faster.
 */
export const DEFAULT_UPSTREAM_KEEPALIVE: Readonly<UpstreamKeepalive> = Object.freeze({
  intervalMs: 300_000,
  timeoutMs: 20_000,
});

/**
 * Node's per-session memory cap (MB) for upstream sessions. Node's default (10 MB) resets
 * streams with ENHANCE_YOUR_CALM under ordinary load (many concurrent large calls), blaming the
 * upstream. What a session holds is already bounded by the bridge: each forwarded call holds at
 * most one message plus an HTTP/2 stream window in each direction, and calls are bounded by
 * connections x MAX_CONCURRENT_STREAMS. grpc-js does the same (an unlimited value).
 */
export const UPSTREAM_SESSION_MEMORY_MB = Number.MAX_SAFE_INTEGER;

/**
 * Header pairs Node accepts in one response block before resetting the stream itself (Node's
 * default is 128). Set above anything the client side can take (its max metadata size), so that
 * an oversized block is refused by the bridge's own check, with a message that says so.
 */
const MAX_HEADER_LIST_PAIRS = 4096;

/** A request stream and the session it runs on. */
export interface UpstreamRequest {
  stream: http2.ClientHttp2Stream;
  session: http2.ClientHttp2Session;
}

/**
 * One upstream server: a single HTTP/2 session shared by all calls to it, opened on the first
 * call and opened again by the next call after it died (closed, GOAWAY, error, keepalive
 * timeout). Pings it while open when asked; closes it after `maxSessionIdleMs` without calls.
 */
export class UpstreamConnection {
  /** The target URL, for messages and logs. */
  readonly href: string;
  readonly scheme: "http" | "https";
  readonly authority: string;
  private session: http2.ClientHttp2Session | undefined;
  /** Why each session failed, for the status message of the calls it took down. */
  private readonly errors = new WeakMap<http2.ClientHttp2Session, Error>();
  private readonly sessions = new Set<http2.ClientHttp2Session>();
  /** Sessions that got the upstream's SETTINGS: HTTP/2 is up. */
  private readonly started = new WeakSet<http2.ClientHttp2Session>();
  private active = 0;
  /** The last stream id each session's upstream promised to process, from its GOAWAY. */
  private readonly goAwayLastIds = new WeakMap<http2.ClientHttp2Session, number>();
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  constructor(
    private readonly url: URL,
    private readonly options: UpstreamTarget,
  ) {
    this.href = url.href;
    this.scheme = url.protocol === "https:" ? "https" : "http";
    this.authority = options.authority ?? url.host;
  }

  /** Opens a request stream, connecting first when there is no usable session. Throws once closed. */
  request(headers: http2.OutgoingHttpHeaders): UpstreamRequest {
    if (this.closed) throw new Error(`upstream ${this.href} is closed`);
    let session = this.current();
    try {
      return { stream: session.request(headers), session };
    } catch (error) {
      // Headers Node refuses: the session is fine, the call is not.
      if (!session.closed && !session.destroyed) throw error;
      // The session went away between the check and the request (e.g. a GOAWAY in this tick).
      this.detach(session);
      session = this.current();
      return { stream: session.request(headers), session };
    }
  }

  /**
   * Why `session` ended: its error, or, when it closed without one before the upstream's HTTP/2
   * SETTINGS arrived, that fact; undefined while it is open or after a clean close. `streamError`
   * is the error of a stream it took down: its `cause` is the session's error, which a stream may
   * see before the session's 'error' event.
   */
  sessionError(session: http2.ClientHttp2Session, streamError?: Error): Error | undefined {
    const error = this.errors.get(session) ?? (streamError?.cause instanceof Error ? streamError.cause : undefined);
    if (this.started.has(session) || !(session.closed || session.destroyed || error)) return error;
    const code = (error as { code?: unknown } | undefined)?.code;
    if (error && code !== "ECONNRESET" && code !== "EPIPE") return error;
    const hint =
      this.scheme === "http"
        ? "a TLS port? then use an https: target"
        : this.options.tls?.cert
          ? "did it reject the client certificate?"
          : "is it a gRPC server?";
    return new Error(
      `the upstream closed the connection before HTTP/2 started (${hint})${error ? ` (${String(code)})` : ""}`,
      { cause: error },
    );
  }

  /**
   * True when the upstream certainly never processed `stream`: it was never sent (no id), it was
   * refused (REFUSED_STREAM), or its id is above the last id of the session's GOAWAY. Such a call
   * may be sent again on another session.
   */
  neverStarted(session: http2.ClientHttp2Session, stream: http2.ClientHttp2Stream): boolean {
    // Only a session that reached HTTP/2: a call on one that never connected has its connect error.
    if (!this.started.has(session)) return false;
    const id = stream.id;
    if (id === undefined) return true;
    if (stream.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM) return true;
    const last = this.goAwayLastIds.get(session);
    return last !== undefined && id > last;
  }

  /** A call started: the session must stay open and keep the process alive. */
  acquire(): void {
    this.active++;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.session?.ref();
  }

  /** A call ended. */
  release(): void {
    if (--this.active > 0) return;
    const session = this.session;
    if (!session) return;
    // An idle upstream connection alone should not keep the process running.
    session.unref();
    const idleMs = this.options.maxSessionIdleMs;
    if (idleMs !== undefined && idleMs >= 0) {
      this.idleTimer = setTimeout(() => {
        this.idleTimer = undefined;
        if (this.active === 0 && this.session === session) {
          this.detach(session);
          session.close();
        }
      }, idleMs);
      this.idleTimer.unref();
    }
  }

  /** Closes every session gracefully; destroys what is still open after `graceMs`. */
  async close(graceMs = 1000): Promise<void> {
    this.closed = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.session = undefined;
    await Promise.all(
      [...this.sessions].map(
        (session) =>
          new Promise<void>((resolve) => {
            if (session.destroyed) return resolve();
            const timer = setTimeout(() => session.destroy(), graceMs);
            session.once("close", () => {
              clearTimeout(timer);
              resolve();
            });
            session.close();
          }),
      ),
    );
  }

  private current(): http2.ClientHttp2Session {
    const s = this.session;
    if (s && !s.closed && !s.destroyed) return s;
    return (this.session = this.connect());
  }

  private detach(session: http2.ClientHttp2Session): void {
    if (this.session === session) this.session = undefined;
  }

  private connect(): http2.ClientHttp2Session {
    const { socketPath } = this.options;
    const keepalive =
      this.options.keepalive === false ? undefined : (this.options.keepalive ?? DEFAULT_UPSTREAM_KEEPALIVE);
    let session: http2.ClientHttp2Session;
    // Ours for https (and unix sockets) so that a TLS failure can be told from a refused connection.
    const createConnection =
      this.scheme === "https"
        ? () => this.connectTls((error) => this.errors.set(session, error))
        : socketPath !== undefined
          ? () => net.connect(socketPath)
          : undefined;
    session = http2.connect(this.url.origin, {
      ...(createConnection ? { createConnection } : {}),
      settings: { enablePush: false },
      maxSessionMemory: UPSTREAM_SESSION_MEMORY_MB,
      maxHeaderListPairs: MAX_HEADER_LIST_PAIRS,
    });
    this.sessions.add(session);
    if (this.active === 0) session.unref();

    const connectTimeoutMs = this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    let connectTimer: ReturnType<typeof setTimeout> | undefined = setTimeout(() => {
      session.destroy(new Error(`connecting timed out after ${connectTimeoutMs} ms`));
    }, connectTimeoutMs);
    connectTimer.unref();
    let pingTimer: ReturnType<typeof setInterval> | undefined;

    session.once("connect", () => {
      clearTimeout(connectTimer);
      connectTimer = undefined;
      if (keepalive && keepalive.intervalMs > 0)
        pingTimer = this.keepalive(session, keepalive.intervalMs, keepalive.timeoutMs);
    });
    session.once("remoteSettings", () => this.started.add(session));
    session.on("error", (error: Error) => {
      if (!this.errors.has(session)) this.errors.set(session, error);
      this.detach(session);
    });
    // New calls go to a new session; calls in flight on this one finish (or are refused).
    session.on("goaway", (_code: number, lastStreamId: number) => {
      this.goAwayLastIds.set(session, lastStreamId);
      this.detach(session);
    });
    session.once("close", () => {
      clearTimeout(connectTimer);
      clearInterval(pingTimer);
      this.sessions.delete(session);
      this.detach(session);
    });
    return session;
  }

  /**
   * A TLS socket (ALPN h2) to the target or its unix socket. `onTlsError` learns of TLS failures
   * before http2 does, so that the calls they end can say so.
   */
  private connectTls(onTlsError: (error: Error) => void): tls.TLSSocket {
    const { tls: options, socketPath } = this.options;
    const host = this.url.hostname.replace(/^\[|\]$/g, "");
    const socket = tls.connect({
      ...options,
      ALPNProtocols: ["h2"],
      // No SNI for an IP address (RFC 6066); the certificate is still checked against `host`.
      servername: options?.servername ?? (net.isIP(host) ? undefined : host),
      host,
      ...(socketPath === undefined ? { port: Number(this.url.port || 443) } : { path: socketPath }),
    });
    let tcpConnected = false;
    let handshakeDone = false;
    socket.once("connect", () => (tcpConnected = true));
    socket.once("secureConnect", () => (handshakeDone = true));
    socket.once("error", (error: Error) => {
      if (tcpConnected && !handshakeDone)
        onTlsError(new Error(`TLS handshake failed: ${describeError(error)}`, { cause: error }));
      else if (isOpenSslError(error)) onTlsError(new Error(`TLS error: ${describeError(error)}`, { cause: error }));
    });
    return socket;
  }

  private keepalive(
    session: http2.ClientHttp2Session,
    intervalMs: number,
    timeoutMs: number,
  ): ReturnType<typeof setInterval> {
    let waiting = false;
    const timer = setInterval(() => {
      // Only while calls are in flight: servers count pings on an idle connection as abuse.
      if (waiting || session.destroyed || this.active === 0) return;
      waiting = true;
      const deadline = setTimeout(() => {
        session.destroy(new Error(`keepalive ping not acknowledged within ${timeoutMs} ms`));
      }, timeoutMs);
      deadline.unref();
      try {
        session.ping(() => {
          clearTimeout(deadline);
          waiting = false;
        });
      } catch {
        clearTimeout(deadline);
        waiting = false;
      }
    }, intervalMs);
    timer.unref();
    return timer;
  }
}

/**
 * A short description of a connection failure: the innermost cause (http2 wraps the session's
 * error in each stream's), OpenSSL's reason rather than its raw error string, and the error code.
 */
export function describeError(error: unknown): string {
  let e = error;
  // Only Node's own wrappers ("The pending stream has been canceled (caused by: ...)") are looked through.
  for (
    let i = 0;
    i < 8 &&
    e instanceof Error &&
    e.cause instanceof Error &&
    /^ERR_HTTP2_/.test(String((e as { code?: unknown }).code));
    i++
  )
    e = e.cause;
  if (!(e instanceof Error)) return String(e);
  const { code, reason } = e as Error & { code?: unknown; reason?: unknown };
  const text = typeof reason === "string" && reason !== "" ? reason : e.message;
  return typeof code === "string" && !text.includes(code) ? `${text} (${code})` : text;
}

function isOpenSslError(error: Error): boolean {
  const { code, library } = error as Error & { code?: unknown; library?: unknown };
  return (
    (typeof code === "string" && /^ERR_(SSL|TLS)_/.test(code)) ||
    (typeof library === "string" && library.includes("SSL"))
  );
}

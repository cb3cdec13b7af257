import http2 from "node:http2";
import net from "node:net";
import tls from "node:tls";
import type { UpstreamTarget } from "./config.js";

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

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
  private active = 0;
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

  /** The error that ended `session`, if it failed rather than closed cleanly. */
  sessionError(session: http2.ClientHttp2Session): Error | undefined {
    return this.errors.get(session);
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
    const { tls: tlsOptions, socketPath, keepalive } = this.options;
    const secure = this.scheme === "https";
    const tlsConnect: tls.ConnectionOptions = {
      ...tlsOptions,
      ALPNProtocols: ["h2"],
      servername: tlsOptions?.servername ?? (net.isIP(this.url.hostname) ? undefined : this.url.hostname),
    };
    const createConnection =
      socketPath === undefined
        ? undefined
        : secure
          ? () => tls.connect({ ...tlsConnect, path: socketPath })
          : () => net.connect(socketPath);
    const session = http2.connect(this.url.origin, {
      ...(secure ? tlsConnect : {}),
      ...(createConnection ? { createConnection } : {}),
      settings: { enablePush: false },
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
      if (keepalive && keepalive.intervalMs > 0) pingTimer = this.keepalive(session, keepalive.intervalMs, keepalive.timeoutMs);
    });
    session.on("error", (error: Error) => {
      if (!this.errors.has(session)) this.errors.set(session, error);
      this.detach(session);
    });
    // New calls go to a new session; calls in flight on this one finish (or are refused).
    session.on("goaway", () => this.detach(session));
    session.once("close", () => {
      clearTimeout(connectTimer);
      clearInterval(pingTimer);
      this.sessions.delete(session);
      this.detach(session);
    });
    return session;
  }

  private keepalive(session: http2.ClientHttp2Session, intervalMs: number, timeoutMs: number): ReturnType<typeof setInterval> {
    let waiting = false;
    const timer = setInterval(() => {
      if (waiting || session.destroyed) return;
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

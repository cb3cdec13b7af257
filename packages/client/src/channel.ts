import { Code, ConnectError } from "@connectrpc/connect";
import { unref, type SessionClosedError } from "@grpc-ws/wire";
import { backoffDelay } from "./backoff.js";
import { Connection, type ConnectionConfig, type ConnectionListener } from "./connection.js";
import type { ConnectionState, ReconnectOptions } from "./options.js";

/** A call waiting for a connection that can take one more stream. */
export interface PendingCall {
  /** `connection` is open and below the server's stream limit: open the stream now (synchronously). */
  start(connection: Connection): void;
  /** No connection for this call: the attempt failed or the transport closed. */
  fail(error: ConnectError): void;
}

export const TRANSPORT_CLOSED = "transport closed";

/**
 * Owns the transport's connections: one current connection that new calls use, plus connections
 * draining after GOAWAY. Opens the current one on demand, queues calls beyond the server's
 * concurrent-stream limit, and backs off between failed attempts.
 */
export class Channel implements ConnectionListener {
  state: ConnectionState = "idle";
  private current: Connection | undefined;
  private readonly draining = new Set<Connection>();
  private readonly queue = new Set<PendingCall>();
  private readonly openWaiters: Array<{ resolve: () => void; reject: (error: ConnectError) => void }> = [];
  private readonly listeners = new Set<(state: ConnectionState) => void>();
  private failures = 0;
  private backoffTimer: ReturnType<typeof setTimeout> | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly config: ConnectionConfig,
    private readonly reconnect: ReconnectOptions,
  ) {}

  /** Starts `call` now if the current connection has room, else queues it (opening a connection if needed). */
  acquire(call: PendingCall): void {
    if (this.state === "closed") return call.fail(closedError());
    const c = this.current;
    if (c !== undefined && c.opened && this.queue.size === 0 && c.session!.canOpenStream) return call.start(c);
    this.queue.add(call);
    if (c === undefined) this.ensureConnecting();
    else this.pump();
  }

  /** A queued call gave up (deadline, abort). */
  cancel(call: PendingCall): void {
    this.queue.delete(call);
  }

  /** A stream ended: queued calls may fit now. */
  release(): void {
    if (this.queue.size > 0) this.pump();
  }

  connect(): Promise<void> {
    if (this.state === "closed") return Promise.reject(closedError());
    if (this.state === "open") return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.openWaiters.push({ resolve, reject });
      this.ensureConnecting();
    });
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.setState("closed");
    clearTimeout(this.backoffTimer);
    this.failWaiting(closedError());
    const connections = [...this.draining];
    if (this.current) connections.push(this.current);
    this.current = undefined;
    this.closing = Promise.all(connections.map((c) => c.close(TRANSPORT_CLOSED))).then(() => undefined);
    return this.closing;
  }

  onStateChange(listener: (state: ConnectionState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // --- ConnectionListener ---------------------------------------------------------------

  onOpen(connection: Connection): void {
    if (connection !== this.current) return;
    this.failures = 0;
    this.setState("open");
    const waiters = this.openWaiters.splice(0, this.openWaiters.length);
    for (const waiter of waiters) waiter.resolve();
    this.pump();
  }

  onGoAway(connection: Connection): void {
    if (connection === this.current) this.retire(connection);
  }

  onClose(connection: Connection, error: SessionClosedError): void {
    this.draining.delete(connection);
    if (connection !== this.current) return;
    this.current = undefined;
    if (this.state === "closed") return;
    if (connection.opened) {
      // A connection that worked and then dropped: reconnect at once, if anybody waits.
      if (this.queue.size > 0 || this.openWaiters.length > 0) this.ensureConnecting();
      else this.setState("idle");
      return;
    }
    this.failures++;
    // A refusal (authentication, permission) reaches every waiting call with the server's code and message.
    this.failWaiting(connection.refusal ?? new ConnectError(error.message, Code.Unavailable, undefined, undefined, error));
    this.setState(connection.refusal ? "refused" : "backoff");
    this.backoffTimer = setTimeout(() => {
      this.backoffTimer = undefined;
      if (this.queue.size > 0 || this.openWaiters.length > 0) this.ensureConnecting();
      else this.setState("idle");
    }, backoffDelay(this.reconnect, this.failures));
    unref(this.backoffTimer);
  }

  // ---------------------------------------------------------------------------------------

  // Opens the current connection unless one exists, the transport closed, or a backoff runs
  // (its timer connects when it ends, and now keeps a Node process alive: somebody waits).
  private ensureConnecting(): void {
    if (this.backoffTimer !== undefined) {
      (this.backoffTimer as { ref?: () => void }).ref?.();
      return;
    }
    if (this.current !== undefined || this.state === "closed") return;
    this.current = new Connection(this.config, this);
    this.setState("connecting");
  }

  private pump(): void {
    const c = this.current;
    if (c === undefined || !c.opened) return;
    const session = c.session!;
    for (const call of this.queue) {
      if (!session.canOpenStream) {
        // Below the stream limit and still unable: the connection ran out of stream ids.
        if (!session.closed && !session.draining && session.activeStreams < session.peer!.maxConcurrentStreams) this.retire(c);
        return;
      }
      this.queue.delete(call);
      call.start(c);
    }
  }

  // Streams already open finish on `connection`; new calls go to a new one.
  private retire(connection: Connection): void {
    this.current = undefined;
    this.draining.add(connection);
    void connection.session!.whenIdle().then(() => connection.close("connection retired"));
    if (this.queue.size > 0 || this.openWaiters.length > 0) this.ensureConnecting();
    else this.setState("idle");
  }

  private failWaiting(error: ConnectError): void {
    const calls = [...this.queue];
    this.queue.clear();
    for (const call of calls) call.fail(error);
    const waiters = this.openWaiters.splice(0, this.openWaiters.length);
    for (const waiter of waiters) waiter.reject(error);
  }

  private setState(state: ConnectionState): void {
    if (this.state === state) return;
    this.state = state;
    for (const listener of [...this.listeners]) {
      try {
        listener(state);
      } catch {
        // A listener's bug must not break the connection's bookkeeping.
      }
    }
  }
}

function closedError(): ConnectError {
  return new ConnectError(TRANSPORT_CLOSED, Code.Unavailable);
}


import { Code, ConnectError } from "@connectrpc/connect";
import { type Session, type SessionClosedError, type TraceSink } from "@grpc-ws/wire";
import { unref } from "@grpc-ws/wire/internal";
import { backoffDelay } from "./backoff.js";
import { Connection, type ConnectionConfig, type ConnectionListener } from "./connection.js";
import type { ConnectionState, ReconnectOptions } from "./options.js";

/** A call waiting for a connection that can take one more stream. */
export interface PendingCall {
  /** `session` is open and below the server's stream limit: open the stream now (synchronously). */
  start(session: Session): void;
  /** No connection for this call: the attempt failed or the transport closed. */
  fail(error: ConnectError): void;
}

export const TRANSPORT_CLOSED = "transport closed";

/** The channel's state; `kind` is the public `ConnectionState`. Each carries what exists in it. */
type State =
  | { readonly kind: "idle" }
  | { readonly kind: "connecting"; readonly connection: Connection }
  | { readonly kind: "open"; readonly connection: Connection; readonly session: Session }
  | { readonly kind: "backoff" | "refused"; readonly timer: ReturnType<typeof setTimeout> }
  | { readonly kind: "closed"; readonly closing: Promise<void> };

/**
 * Owns the transport's connections: one current connection that new calls use, plus connections
 * draining after GOAWAY. Opens the current one on demand, queues calls beyond the server's
 * concurrent-stream limit, and backs off between failed attempts.
 */
export class Channel implements ConnectionListener {
  private current: State = { kind: "idle" };
  private readonly draining = new Set<Connection>();
  private readonly queue = new Set<PendingCall>();
  private readonly openWaiters: Array<{ resolve: () => void; reject: (error: ConnectError) => void }> = [];
  private readonly listeners = new Set<(state: ConnectionState) => void>();
  private failures = 0;

  constructor(
    private readonly config: ConnectionConfig,
    private readonly reconnect: ReconnectOptions,
    private readonly trace: TraceSink | undefined,
  ) {}

  get state(): ConnectionState {
    return this.current.kind;
  }

  /** Starts `call` now if the current connection has room, else queues it (opening a connection if needed). */
  acquire(call: PendingCall): void {
    const s = this.current;
    if (s.kind === "closed") return call.fail(closedError());
    if (s.kind === "open" && this.queue.size === 0 && s.session.canOpenStream)
      return this.startCall(call, s.connection, s.session);
    this.queue.add(call);
    if (s.kind === "open") this.pump();
    else this.ensureConnecting();
  }

  /** A queued call gave up (deadline, abort). */
  cancel(call: PendingCall): void {
    this.queue.delete(call);
  }

  /** A stream ended: queued calls may fit now; an idle connection lets a Node process exit. */
  release(): void {
    if (this.queue.size > 0) this.pump();
    const s = this.current;
    if (s.kind === "open" && s.session.activeStreams === 0) s.connection.hold(false);
  }

  connect(): Promise<void> {
    const s = this.current;
    if (s.kind === "closed") return Promise.reject(closedError());
    if (s.kind === "open") return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.openWaiters.push({ resolve, reject });
      this.ensureConnecting();
    });
  }

  close(): Promise<void> {
    const s = this.current;
    if (s.kind === "closed") return s.closing;
    if (s.kind === "backoff" || s.kind === "refused") clearTimeout(s.timer);
    const connections = [...this.draining];
    if (s.kind === "connecting" || s.kind === "open") connections.push(s.connection);
    let closed!: () => void;
    const closing = new Promise<void>((resolve) => (closed = resolve));
    this.transition({ kind: "closed", closing });
    this.failWaiting(closedError());
    void Promise.all(connections.map((c) => c.close(TRANSPORT_CLOSED))).then(() => closed());
    return closing;
  }

  onStateChange(listener: (state: ConnectionState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // --- ConnectionListener ---------------------------------------------------------------

  onOpen(connection: Connection, session: Session): void {
    if (!this.isCurrent(connection)) return;
    this.failures = 0;
    this.transition({ kind: "open", connection, session });
    const waiters = this.openWaiters.splice(0, this.openWaiters.length);
    for (const waiter of waiters) waiter.resolve();
    this.pump();
    if (session.activeStreams === 0) connection.hold(false);
  }

  onGoAway(connection: Connection): void {
    const s = this.current;
    if (s.kind === "open" && s.connection === connection) this.retire(connection, s.session);
  }

  onClose(connection: Connection, error: SessionClosedError): void {
    this.draining.delete(connection);
    if (!this.isCurrent(connection)) return;
    if (connection.wasOpen) {
      // A connection that worked and then dropped: reconnect at once, if anybody waits.
      return this.connectIfWaiting();
    }
    this.failures++;
    // A refusal (authentication, permission) reaches every waiting call with the server's code and message.
    const refusal = connection.refusal;
    this.failWaiting(refusal ?? new ConnectError(error.message, Code.Unavailable, undefined, undefined, error));
    const timer = setTimeout(
      () => {
        if (this.current.kind === "backoff" || this.current.kind === "refused") this.connectIfWaiting();
      },
      backoffDelay(this.reconnect, this.failures),
    );
    unref(timer);
    this.transition({ kind: refusal ? "refused" : "backoff", timer });
  }

  // ---------------------------------------------------------------------------------------

  private isCurrent(connection: Connection): boolean {
    const s = this.current;
    return (s.kind === "connecting" || s.kind === "open") && s.connection === connection;
  }

  // Opens a connection unless one exists or the transport closed. During a backoff its timer
  // connects when it ends, and now keeps a Node process alive: somebody waits.
  private ensureConnecting(): void {
    const s = this.current;
    if (s.kind === "backoff" || s.kind === "refused") (s.timer as { ref?: () => void }).ref?.();
    else if (s.kind === "idle") this.transition({ kind: "connecting", connection: new Connection(this.config, this) });
  }

  private connectIfWaiting(): void {
    if (this.queue.size > 0 || this.openWaiters.length > 0) {
      this.transition({ kind: "connecting", connection: new Connection(this.config, this) });
    } else {
      this.transition({ kind: "idle" });
    }
  }

  private startCall(call: PendingCall, connection: Connection, session: Session): void {
    connection.hold(true);
    call.start(session);
  }

  private pump(): void {
    const s = this.current;
    if (s.kind !== "open") return;
    for (const call of this.queue) {
      const why = s.session.whyCannotOpen();
      if (why !== undefined) {
        // Below the stream limit and still unable: the connection ran out of stream ids.
        if (why === "ids-exhausted") this.retire(s.connection, s.session);
        return;
      }
      this.queue.delete(call);
      this.startCall(call, s.connection, s.session);
    }
  }

  // Streams already open finish on `connection`; new calls go to a new one.
  private retire(connection: Connection, session: Session): void {
    this.draining.add(connection);
    void session.whenIdle().then(() => connection.close("connection retired"));
    this.connectIfWaiting();
  }

  private failWaiting(error: ConnectError): void {
    const calls = [...this.queue];
    this.queue.clear();
    for (const call of calls) call.fail(error);
    const waiters = this.openWaiters.splice(0, this.openWaiters.length);
    for (const waiter of waiters) waiter.reject(error);
  }

  // The one place the state changes: listeners hear of a change of kind, the trace of every one.
  private transition(next: State): void {
    const from = this.current.kind;
    this.current = next;
    if (from === next.kind) return;
    this.trace?.(`channel ${from} -> ${next.kind}`);
    for (const listener of [...this.listeners]) {
      try {
        listener(next.kind);
      } catch {
        // A listener's bug must not break the connection's bookkeeping.
      }
    }
  }
}

function closedError(): ConnectError {
  return new ConnectError(TRANSPORT_CLOSED, Code.Unavailable);
}

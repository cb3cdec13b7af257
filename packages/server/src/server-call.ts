import { Code, ConnectError } from "@connectrpc/connect";
import {
  ErrorCodeName,
  SessionClosedError,
  Status,
  createTrailers,
  statusOfReset,
  parseTrailers,
  type Metadata,
  setDeadline,
} from "@grpc-ws/wire";
import type { CallStream, IncomingCall } from "./call.js";

/** How a call ends besides its status. */
export interface CallEnding {
  /** What the handler threw, for `onCallEnd`. */
  error?: unknown;
  /** Send the trailers now, dropping queued messages (deadline, shutdown). */
  discardQueued?: boolean;
  /** Abort the call's signal with this reason: the call did not complete normally. */
  abort?: ConnectError;
}

/** What a call reports to its connection when it is over. */
export interface CallOwner {
  callEnded(call: ServerCall, code: Status, message: string, error: unknown): void;
}

/**
 * One call on the bridge: owns the deadline timer and the AbortController behind `signal`, and
 * makes sure the call ends exactly once, whichever comes first: trailers, a reset by the client,
 * the deadline, the connection closing or the bridge shutting down.
 */
export class ServerCall implements IncomingCall {
  readonly signal: AbortSignal;
  /** Trailers were queued or the stream was reset: nothing more goes to the client. */
  done = false;
  forwarded = false;
  onEnd: ((code: Status, message: string) => void) | undefined;
  private readonly controller = new AbortController();
  private cancelDeadline: (() => void) | undefined;

  constructor(
    readonly stream: CallStream,
    readonly path: string,
    readonly headers: Metadata,
    readonly timeoutMs: number | undefined,
    readonly startedAt: number,
    private readonly owner: CallOwner,
  ) {
    this.signal = this.controller.signal;
    stream.events.onReset = (code, error) => this.onReset(code, error);
    if (timeoutMs !== undefined) this.cancelDeadline = setDeadline(timeoutMs, () => this.onDeadline());
  }

  remainingMs(): number | undefined {
    return this.timeoutMs === undefined ? undefined : this.startedAt + this.timeoutMs - performance.now();
  }

  /** Trailers from elsewhere (the upstream's): their status is read back for logging, as the client will read it. */
  sendTrailers(trailers: Metadata, ending?: CallEnding): void {
    if (this.done) return;
    const { code, message } = parseTrailers(trailers);
    this.finish(trailers, code, message, ending);
  }

  /** Ends the call with `trailers`, which were built for `code` and `message`. */
  finish(trailers: Metadata, code: Status, message: string, ending: CallEnding = {}): void {
    if (this.done) return;
    try {
      this.stream.sendTrailers(trailers, ending.discardQueued);
    } catch (e) {
      // Metadata that cannot be encoded (a bad name or value from user code).
      code = Status.INTERNAL;
      message = `invalid trailer metadata: ${e instanceof Error ? e.message : String(e)}`;
      this.stream.sendTrailers(createTrailers(code, message), ending.discardQueued);
    }
    this.end(code, message, ending);
  }

  /** Ends the call with a status and no metadata. */
  fail(code: Status, message: string, ending?: CallEnding): void {
    this.finish(createTrailers(code, message), code, message, ending);
  }

  reset(code: number): void {
    if (this.done) return;
    this.stream.reset(code);
    this.end(Status.CANCELLED, `call reset by the server (${ErrorCodeName[code] ?? code})`, { abort: new ConnectError("call reset by the server", Code.Canceled) });
  }

  /** Ends the call for the client with `code` and aborts the handler's signal (bridge shutdown). */
  cancel(code: Status, message: string): void {
    if (this.done) return;
    this.fail(code, message, { discardQueued: true, abort: new ConnectError(message, code as number as Code) });
  }

  private onDeadline(): void {
    this.cancelDeadline = undefined;
    const message = `deadline of ${formatMs(this.timeoutMs!)} exceeded`;
    this.fail(Status.DEADLINE_EXCEEDED, message, { discardQueued: true, abort: new ConnectError(message, Code.DeadlineExceeded) });
  }

  // The session closed the stream: the client reset it, the connection went away, or a message broke a limit.
  private onReset(code: number, error: Error): void {
    if (this.done) return;
    // A MessageError was already answered with its status in trailers by the wire.
    const status = statusOfReset(code, error);
    const message =
      error instanceof SessionClosedError
        ? `connection closed: ${error.message}`
        : status === Status.CANCELLED
          ? "call cancelled by the client"
          : error.message;
    this.end(status, message, { abort: new ConnectError(message, status as number as Code) });
  }

  private end(code: Status, message: string, ending: CallEnding): void {
    this.done = true;
    this.cancelDeadline?.();
    // Abort before waking the handler's waiters: a pending request `next()` must reject with the
    // reason, not end as if the client had half-closed.
    if (ending.abort && !this.controller.signal.aborted) this.controller.abort(ending.abort);
    this.owner.callEnded(this, code, message, ending.error);
    this.onEnd?.(code, message);
  }
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`;
}

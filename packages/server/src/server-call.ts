import { Code, ConnectError } from "@connectrpc/connect";
import { SessionClosedError, Status, createTrailers, type Metadata, type StreamEvents } from "@grpc-ws/wire";
import { statusOfReset, setDeadline } from "@grpc-ws/wire/internal";
import type { ConnectionInfo } from "./access/connection-info.js";

/**
 * What the call core uses of a call's transport: a grpc-ws v1 wire `Stream`, the socket of a
 * `grpc-websockets` call (front/grpc-websockets), or either behind compression. Messages are
 * whole and without their prefix.
 */
export interface CallStream {
  events: StreamEvents;
  /** The client half-closed. */
  readonly remoteEnded: boolean;
  /** Request messages waiting in `read()`. */
  readonly readableLength: number;
  /** False while `write()` would return false. */
  readonly writable: boolean;
  read(): Uint8Array | undefined;
  /** Queues one response message; false: wait for `events.onWritable`. */
  write(message: Uint8Array): boolean;
  sendHeaders(headers: Metadata): void;
  sendTrailers(trailers: Metadata, discardQueued?: boolean): void;
  reset(code: number): void;
}

/**
 * What serves one call (an in-process handler or the upstream forwarder), handed to
 * `ServerCall.start` once. The call owns the wire stream's events and passes them on.
 */
export interface CallHandler {
  /** A request message arrived, or the client half-closed. */
  onReadable(): void;
  /** The stream can take more responses after `write` returned false. */
  onWritable(): void;
  /** The call is over, with the status the client was sent (first status wins). Called once. */
  onEnd(code: Status, message: string): void;
}

/** The status a call ends with: one value, whoever ends it. */
export interface EndStatus {
  code: Status;
  /** Decoded (not percent-encoded). */
  message: string;
  /** The trailers to send, built for `code` and `message`; default: just the status. */
  trailers?: Metadata;
  /** Send the trailers now, dropping queued messages (deadline, shutdown). */
  discardQueued?: boolean;
  /** The call did not complete normally: abort its signal with a ConnectError of this status. */
  abort?: boolean;
  /** What the handler threw, for `onCallEnd`. */
  error?: unknown;
}

/** The request as the bridge parsed it from the HEADERS frame. */
export interface CallRequest {
  /** "/package.Service/Method". */
  readonly path: string;
  /** Request metadata without `:path` (includes `grpc-timeout` when the client sent one). */
  readonly headers: Metadata;
  /** The client's timeout in ms from `grpc-timeout`, if any. */
  readonly timeoutMs: number | undefined;
  /** `performance.now()` when the HEADERS frame arrived. */
  readonly startedAt: number;
  /** The connection the call came on: its identity and upgrade request. */
  readonly connection: ConnectionInfo;
}

/** Receives the size in bytes of each message of a call (without the 5-byte prefix). */
export interface MessageSizes {
  request(bytes: number): void;
  response(bytes: number): void;
}

/** Told once when a call is over, for the connection's bookkeeping and `onCallEnd`. */
export type CallEnded = (call: ServerCall, code: Status, message: string, error: unknown) => void;

/**
 * One call on the bridge: owns the stream's events, the deadline timer and the AbortController
 * behind `signal`, and ends exactly once, whichever comes first: the handler's status, a reset by
 * the client, the deadline, the connection closing or the bridge shutting down.
 */
export class ServerCall implements StreamEvents {
  readonly path: string;
  readonly headers: Metadata;
  readonly timeoutMs: number | undefined;
  readonly startedAt: number;
  readonly connection: ConnectionInfo;
  /** Served by the upstream forwarder, for `onCallEnd`. */
  forwarded = false;
  private _ended = false;
  private handler: CallHandler | undefined;
  // Made when `signal` is first read: most calls end without anyone looking at it.
  private controller: AbortController | undefined;
  private _aborted = false;
  private _abortReason: unknown;
  private cancelDeadline: (() => void) | undefined;

  constructor(
    readonly stream: CallStream,
    request: CallRequest,
    private readonly onEnded: CallEnded,
    /** Told the size of every request and response message (telemetry); whoever serves the call reports them. */
    readonly sizes?: MessageSizes,
  ) {
    ({
      path: this.path,
      headers: this.headers,
      timeoutMs: this.timeoutMs,
      startedAt: this.startedAt,
      connection: this.connection,
    } = request);
    // The call is its stream's events object: no closures per call.
    stream.events = this;
    if (this.timeoutMs !== undefined) this.cancelDeadline = setDeadline(this.timeoutMs, () => this.onDeadline());
  }

  /**
   * Fires once the call is over for its handler: with a ConnectError when the call did not
   * complete normally, else with what `abort` was given. Made on first read; read after the call
   * ended, it is already aborted with the same reason.
   */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this._aborted) this.controller.abort(this._abortReason);
    }
    return this.controller.signal;
  }

  /** `signal` has fired (read without making the signal). */
  get aborted(): boolean {
    return this._aborted;
  }

  /** Why `signal` fired, once `aborted`. */
  get abortReason(): unknown {
    return this._abortReason;
  }

  /** Fires `signal` with `reason`; the first reason wins. */
  abort(reason: unknown): void {
    if (this._aborted) return;
    this._aborted = true;
    this._abortReason = reason;
    this.controller?.abort(reason);
  }

  /** Trailers were queued or the stream was reset: nothing more goes to the client. */
  get ended(): boolean {
    return this._ended;
  }

  /** Hands the call to what serves it. Once. */
  start(handler: CallHandler): void {
    if (this.handler !== undefined) throw new Error("a call is started once");
    this.handler = handler;
  }

  /** @internal StreamEvents: a request message arrived or the client half-closed. */
  onReadable(): void {
    this.handler?.onReadable();
  }

  /** @internal StreamEvents: the stream takes responses again. */
  onWritable(): void {
    this.handler?.onWritable();
  }

  /** Milliseconds left until the deadline (negative once passed), or undefined without one. */
  remainingMs(): number | undefined {
    return this.timeoutMs === undefined ? undefined : this.startedAt + this.timeoutMs - performance.now();
  }

  /** Ends the call with `status`; the first status wins, later ones are ignored. */
  end(status: EndStatus): void {
    if (this._ended) return;
    let { code, message } = status;
    try {
      this.stream.sendTrailers(status.trailers ?? createTrailers(code, message), status.discardQueued);
    } catch (e) {
      // Metadata that cannot be encoded (a bad name or value from user code).
      code = Status.INTERNAL;
      message = `invalid trailer metadata: ${e instanceof Error ? e.message : String(e)}`;
      this.stream.sendTrailers(createTrailers(code, message), status.discardQueued);
    }
    this.settle(
      code,
      message,
      status.abort ? new ConnectError(status.message, status.code as number as Code) : undefined,
      status.error,
    );
  }

  /** Bridge shutdown: ends the call for the client with `code` and aborts the handler's signal. */
  cancel(code: Status, message: string): void {
    this.end({ code, message, discardQueued: true, abort: true });
  }

  private onDeadline(): void {
    this.cancelDeadline = undefined;
    this.end({
      code: Status.DEADLINE_EXCEEDED,
      message: `deadline of ${formatMs(this.timeoutMs!)} exceeded`,
      discardQueued: true,
      abort: true,
    });
  }

  /** @internal StreamEvents: the session closed the stream: the client reset it, the connection went away, or a message broke a limit. */
  onReset(code: number, error: Error): void {
    if (this._ended) return;
    // A MessageError was already answered with its status in trailers by the wire.
    const status = statusOfReset(code, error);
    const message =
      error instanceof SessionClosedError
        ? `connection closed: ${error.message}`
        : status === Status.CANCELLED
          ? "call cancelled by the client"
          : error.message;
    this.settle(status, message, new ConnectError(message, status as number as Code), undefined);
  }

  private settle(code: Status, message: string, abort: ConnectError | undefined, error: unknown): void {
    this._ended = true;
    this.cancelDeadline?.();
    // Abort before waking the handler's waiters: a pending request `next()` must reject with the
    // reason, not end as if the client had half-closed.
    if (abort) this.abort(abort);
    this.onEnded(this, code, message, error);
    this.handler?.onEnd(code, message);
  }
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`;
}

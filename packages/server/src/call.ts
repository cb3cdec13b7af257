import type { Metadata, Status, StreamEvents } from "@grpc-ws/wire";

/**
 * What the call core uses of a call's transport: a grpc-ws v1 wire `Stream`, or the socket of a
 * `grpc-websockets` call (front/grpc-websockets). Messages are whole and without their prefix.
 */
export interface CallStream {
  events: StreamEvents;
  /** The client half-closed. */
  readonly remoteEnded: boolean;
  /** Request messages waiting in `read()`. */
  readonly readableLength: number;
  read(): Uint8Array | undefined;
  /** False while `write()` would return false. */
  readonly writable: boolean;
  /** Queues one response message; false: wait for `events.onWritable`. */
  write(message: Uint8Array): boolean;
  sendHeaders(headers: Metadata): void;
  sendTrailers(trailers: Metadata, discardQueued?: boolean): void;
  reset(code: number): void;
}

/**
 * One call as the bridge hands it to whatever serves it (an in-process handler or the upstream
 * forwarder). The bridge has already parsed the request HEADERS and armed the deadline.
 */
export interface IncomingCall {
  /** The wire stream. Set individual `stream.events` callbacks; never replace `events` or `onReset`. */
  readonly stream: CallStream;
  /** "/package.Service/Method". */
  readonly path: string;
  /** Request metadata without `:path` (includes `grpc-timeout` when the client sent one). */
  readonly headers: Metadata;
  /** The client's timeout in ms from `grpc-timeout`, if any. */
  readonly timeoutMs: number | undefined;
  /** `performance.now()` when the HEADERS frame arrived. */
  readonly startedAt: number;
  /** Milliseconds left until the deadline (negative once passed), or undefined without one. */
  remainingMs(): number | undefined;
  /** Aborts on client cancel (RST_STREAM), deadline, connection loss and bridge shutdown. */
  readonly signal: AbortSignal;
  /** Ends the call with these trailers (sent after queued messages); records the status for logging. */
  sendTrailers(trailers: Metadata): void;
  /**
   * Abandons the call with RST_STREAM `code` (an `ErrorCode`) when no status can be sent; records
   * CANCELLED for logging. Prefer `sendTrailers`; never call `stream.reset` directly.
   */
  reset(code: number): void;
  /**
   * Runs once when the call has ended, by any path, with the status the client was sent (CANCELLED,
   * DEADLINE_EXCEEDED or UNAVAILABLE when it went away first): what `onCallEnd` reports. Set by
   * whoever serves the call.
   */
  onEnd: ((code: Status, message: string) => void) | undefined;
}

/** Serves calls the in-process router does not know. */
export interface CallForwarder {
  /** True when this forwarder takes calls to `path`. */
  handles(path: string): boolean;
  /** Takes over `call`: it must end it exactly once, with `sendTrailers` or `reset`. */
  forward(call: IncomingCall): void;
  /** Bridge shutdown: ends the calls still open and releases upstream connections. */
  close(): Promise<void>;
}

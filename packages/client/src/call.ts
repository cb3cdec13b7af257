import type {
  BinaryReadOptions,
  BinaryWriteOptions,
  DescMessage,
  DescMethod,
  MessageInitShape,
  MessageShape,
} from "@bufbuild/protobuf";
import { create, fromBinary, isMessage, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  ErrorCode,
  GRPC_TIMEOUT,
  RESERVED_NAMES,
  formatTimeout,
  methodPath,
  DEFAULT_SETTINGS,
  type Metadata,
  type Session,
  type Stream,
  type StreamEvents,
} from "@grpc-ws/wire";
import { headersToMetadata, metadataToHeaders, setDeadline, type MessageInflater } from "@grpc-ws/wire/internal";
import type { Channel, PendingCall } from "./channel.js";
import { responseInflater, type ClientCompression } from "./compression.js";
import { abortError, resetError, trailerError } from "./errors.js";
import { TransparentRetry } from "./transparent-retry.js";

// "/package.Service/Method" per method, built once instead of per call.
const paths = new WeakMap<DescMethod, string>();
function pathOf(method: DescMethod): string {
  let path = paths.get(method);
  if (path === undefined) paths.set(method, (path = methodPath(method.parent.typeName, method.name)));
  return path;
}

/** Stands in for a missing caller signal where an AbortSignal is required (interceptors' `req.signal`). */
export const NEVER_ABORTED: AbortSignal = new AbortController().signal;

/** What every call of one transport shares. */
export interface CallContext {
  readonly channel: Channel;
  readonly readOptions: Partial<BinaryReadOptions> | undefined;
  readonly writeOptions: Partial<BinaryWriteOptions> | undefined;
  readonly compression: ClientCompression;
}

/**
 * One RPC on a wire stream: waits for a connection with room, opens the stream with the request
 * headers, enforces the deadline and the abort signal, and turns response headers, trailers and
 * resets into Connect's `header`, `trailer` and `ConnectError`. Subclasses move the messages.
 */
export abstract class Call implements PendingCall, StreamEvents {
  readonly header = new Headers();
  readonly trailer = new Headers();
  protected stream: Stream | undefined;
  /** Transparent retry of a stream the server never saw (gRFC A6). */
  protected readonly retry = new TransparentRetry();
  /** Settled: succeeded or failed; the stream (if any) is closed. */
  protected finished = false;
  private deadlineAt = 0;
  private cancelDeadline: (() => void) | undefined;
  private abortListener: (() => void) | undefined;
  /** Set when the response headers named a `grpc-encoding`: response messages are read through it. */
  private inflater: MessageInflater | undefined;
  /** Trailers that arrived while a response message was still inflating (`null`: OK). */
  private heldStatus: ConnectError | null | undefined;
  /** This side's limit on a response message (SETTINGS_MAX_MESSAGE_SIZE), decompressed. */
  private readLimit = DEFAULT_SETTINGS.maxMessageSize;
  /** Request bytes waiting for compression before a streaming call's writer waits. */
  protected writeHighWaterMark = 64 * 1024;

  constructor(
    protected readonly ctx: CallContext,
    protected readonly method: DescMethod,
    private readonly signal: AbortSignal | undefined,
    private readonly timeoutMs: number | undefined,
    /** Undefined when the caller gave none (and no interceptor runs): nothing to convert. */
    private readonly requestHeader: Headers | undefined,
  ) {}

  /** Arms the deadline and the signal, then asks for a stream. */
  protected begin(): void {
    const signal = this.signal;
    if (signal?.aborted) return this.fail(abortError(signal));
    const timeoutMs = this.timeoutMs;
    // As in Connect: <= 0 (and here also Infinity) means no deadline.
    if (timeoutMs !== undefined && timeoutMs > 0 && timeoutMs !== Infinity) {
      this.deadlineAt = performance.now() + timeoutMs;
      this.cancelDeadline = setDeadline(timeoutMs, () =>
        this.fail(new ConnectError("the operation timed out", Code.DeadlineExceeded)),
      );
    }
    if (signal !== undefined && signal !== NEVER_ABORTED) {
      const listener = () => this.fail(abortError(signal));
      this.abortListener = listener;
      signal.addEventListener("abort", listener);
    }
    this.ctx.channel.acquire(this);
  }

  /** PendingCall: the session has room; opens the stream and hands over to the subclass. */
  start(session: Session): void {
    if (this.finished) return;
    try {
      const metadata = this.requestHeader ? headersToMetadata(this.requestHeader, RESERVED_NAMES) : [];
      if (this.deadlineAt > 0)
        metadata.push([GRPC_TIMEOUT, formatTimeout(Math.max(1, Math.ceil(this.deadlineAt - performance.now())))]);
      for (const entry of this.ctx.compression.headers) metadata.push(entry);
      this.readLimit = session.local.maxMessageSize;
      this.writeHighWaterMark = session.writeHighWaterMark;
      // Throws before a stream id is spent: TypeError for what the wire cannot carry, RangeError
      // for headers over the server's max frame size.
      this.stream = session.openStream(pathOf(this.method), metadata, this);
    } catch (error) {
      const message = `invalid request header: ${error instanceof Error ? error.message : String(error)}`;
      return this.fail(new ConnectError(message, error instanceof RangeError ? Code.ResourceExhausted : Code.Internal));
    }
    try {
      this.opened(this.stream, session.peer?.maxMessageSize ?? DEFAULT_SETTINGS.maxMessageSize);
    } catch (error) {
      // User code ran (the request iterable); its throw must not reach the session, which would
      // take it for its own bug and drop the connection with every other call on it.
      this.fail(ConnectError.from(error));
    }
  }

  /** PendingCall, and every local failure: resets the stream (if open) and settles with `error`. */
  fail(error: ConnectError): void {
    if (this.finished) return;
    const stream = this.stream;
    if (stream !== undefined && !stream.closed) stream.reset(ErrorCode.CANCEL);
    this.settle(error);
  }

  // --- StreamEvents ------------------------------------------------------------------------

  onHeaders(headers: Metadata): void {
    this.retry.seen();
    metadataToHeaders(headers, undefined, this.header);
    if (this.stream !== undefined)
      this.inflater = responseInflater(
        this.ctx.compression,
        this.stream,
        headers,
        this.readLimit,
        () => this.inflated(),
        (error) => this.inboundFailed(new ConnectError(error.message, error.status as number as Code)),
      );
    this.headersArrived();
  }

  onTrailers(trailers: Metadata): void {
    this.retry.seen();
    metadataToHeaders(trailers, undefined, this.trailer);
    const error = trailerError(trailers, this.header);
    // The status comes after every message: one still inflating holds it back.
    this.onReadable();
    if (this.inflater?.inflating) this.heldStatus = error ?? null;
    else this.trailersArrived(error);
  }

  onReset(code: number, error: Error): void {
    if (!this.finished && this.retry.shouldRetry(code)) {
      // Never seen by the server: go again on a new stream, after the calls already queued.
      this.stream = undefined;
      this.ctx.channel.release();
      this.ctx.channel.acquire(this);
      return;
    }
    this.settle(resetError(code, error));
  }

  abstract onReadable(): void;

  /** The next response message in order (inflated if it came compressed), or undefined for now. */
  protected readMessage(): Uint8Array | undefined {
    return this.inflater ? this.inflater.read() : this.stream?.read();
  }

  /** Response messages received and not yet read (one being inflated counts). */
  protected get unreadMessages(): number {
    const inflater = this.inflater;
    const queued = this.stream?.readableLength ?? 0;
    return inflater ? inflater.readableLength + (inflater.inflating ? 1 : 0) + queued : queued;
  }

  /** A response message is inflating: more messages, then the status, come once it is done. */
  protected get inflating(): boolean {
    return this.inflater?.inflating === true;
  }

  /** A response message failed to inflate (limit, bad data, unaccepted encoding). */
  protected inboundFailed(error: ConnectError): void {
    this.fail(error);
  }

  private inflated(): void {
    this.onReadable();
    const held = this.heldStatus;
    if (held === undefined || this.inflating || this.finished) return;
    this.heldStatus = undefined;
    this.trailersArrived(held ?? undefined);
  }

  // --- for subclasses ----------------------------------------------------------------------

  /** The stream is open and its request HEADERS queued: send the request. */
  protected abstract opened(stream: Stream, maxRequestSize: number): void;
  /** Response HEADERS arrived. */
  protected headersArrived(): void {}
  /** TRAILERS closed the stream; `error` is the status unless OK. */
  protected abstract trailersArrived(error: ConnectError | undefined): void;
  /** The call is over: `error` undefined means success. Called once. */
  protected abstract settled(error: ConnectError | undefined): void;

  /** Ends the call (the stream must already be closed or never opened). */
  protected settle(error: ConnectError | undefined): void {
    if (this.finished) return;
    this.finished = true;
    if (error !== undefined) this.inflater?.stop();
    this.cancelDeadline?.();
    if (this.abortListener) this.signal?.removeEventListener("abort", this.abortListener);
    if (this.stream === undefined) this.ctx.channel.cancel(this);
    else this.ctx.channel.release();
    this.settled(error);
  }

  /** Decodes a response message; throws ConnectError (Internal) for bytes that do not parse. */
  protected decode<O extends DescMessage>(schema: O, bytes: Uint8Array): MessageShape<O> {
    try {
      return fromBinary(schema, bytes, this.ctx.readOptions);
    } catch (error) {
      throw new ConnectError(`parse binary: ${error instanceof Error ? error.message : String(error)}`, Code.Internal);
    }
  }

  /** Encodes a request; fails the call and returns undefined when it cannot be sent. */
  protected encode<I extends DescMessage>(
    schema: I,
    message: MessageInitShape<I>,
    maxSize: number,
  ): Uint8Array | undefined {
    let bytes: Uint8Array;
    try {
      bytes = toBinary(schema, isMessage(message, schema) ? message : create(schema, message), this.ctx.writeOptions);
    } catch (error) {
      this.fail(
        new ConnectError(`serialize binary: ${error instanceof Error ? error.message : String(error)}`, Code.Internal),
      );
      return undefined;
    }
    if (bytes.length > maxSize) {
      this.fail(
        new ConnectError(
          `request message of ${bytes.length} bytes exceeds the server's limit of ${maxSize} bytes`,
          Code.ResourceExhausted,
        ),
      );
      return undefined;
    }
    return bytes;
  }
}

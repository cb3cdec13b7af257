import { create, fromBinary, isMessage, type DescMessage } from "@bufbuild/protobuf";
import { Code, ConnectError, type ContextValues } from "@connectrpc/connect";
import { RESERVED_NAMES, Status, createTrailers, messageCompressionKey, type Metadata } from "@grpc-ws/wire";
import {
  MessageIterator,
  WritableGate,
  headersToMetadata,
  metadataToHeaders,
  pipeMessages,
  type MessageSink,
} from "@grpc-ws/wire/internal";
import { CompressingCallStream } from "./compression-stream.js";
import { errorTrailers, okTrailers, toConnectError } from "./error-trailers.js";
import { CALL_COMPLETE, CallHandlerContext, type CallHandlerContextSource } from "./handler-context.js";
import { encodeMessage } from "./response-encoder.js";
import type { Route } from "./router.js";
import type { CallHandler, ServerCall } from "./server-call.js";

/** Per-connection facts an in-process call needs. */
export interface CallEnvironment {
  /** "http://host" of the upgrade request: the context's `url` is this plus the method path. */
  readonly origin: string;
  /** The client's largest accepted message (its SETTINGS). */
  readonly peerMaxMessageSize: number;
  /** The call's context values; called when the handler first reads `ctx.values`, or at start with `userContextValues`. */
  contextValues(): ContextValues;
  /** The bridge has a `contextValues` hook: run it for every call at its start (a throw fails the call INTERNAL). */
  readonly userContextValues: boolean;
}

/** Runs `fn`, which calls the handler, in the call's scope (its trace context). */
export type CallScope = (fn: () => void) => void;

/**
 * Runs one call against the user's function directly: decodes requests, calls the function in
 * its kind's convention, encodes responses with backpressure, and turns the outcome into trailers.
 */
export class InProcessCall implements CallHandler, CallHandlerContextSource, MessageSink<unknown> {
  private readonly ctx: CallHandlerContext;
  private readonly maxOut: number;
  private headersSent = false;
  private requests: MessageIterator<unknown> | undefined;
  /** What a readable stream wakes: the single-request check or the request iterator. */
  private reading: "single" | "stream" | undefined;
  // Made when a streaming handler first waits for the stream to drain.
  private gate: WritableGate | undefined;

  constructor(
    private readonly call: ServerCall,
    private readonly route: Route,
    private readonly env: CallEnvironment,
    private readonly scope: CallScope | undefined,
  ) {
    this.ctx = new CallHandlerContext({
      service: route.service,
      method: route.method,
      protocolName: "grpc-ws",
      url: env.origin + call.path,
      source: this,
    });
    this.maxOut = Math.min(env.peerMaxMessageSize, route.writeMaxBytes);
  }

  // --- CallHandlerContextSource: what the handler's context reads on first use ---------------

  get signal(): AbortSignal {
    return this.call.signal;
  }

  remainingMs(): number | undefined {
    return this.call.remainingMs();
  }

  fillRequestHeader(into: Headers): void {
    metadataToHeaders(this.call.headers, undefined, into);
  }

  contextValues(): ContextValues {
    const values = this.env.contextValues();
    // Per-message compression for handlers that need it (the interop test service does).
    const stream = this.call.stream;
    if (stream instanceof CompressingCallStream) values.set(messageCompressionKey, stream.messageCompression);
    return values;
  }

  // --- CallHandler ------------------------------------------------------------------------

  onReadable(): void {
    if (this.reading === "single") this.checkSingle();
    else if (this.reading === "stream") this.requests?.wake();
  }

  onWritable(): void {
    this.gate?.open();
  }

  onEnd(): void {
    this.gate?.open();
    this.requests?.wake();
  }

  // ----------------------------------------------------------------------------------------

  start(): void {
    // The user's hook runs for every call, and may throw here (the dispatcher fails the call INTERNAL).
    if (this.env.userContextValues) void this.ctx.values;
    this.call.start(this);
    const gate = this.route.requestGate;
    if (gate === undefined) return this.run();
    // Connect's requestGate: before any request message is read; a throw ends the call.
    let passed: unknown;
    try {
      passed = gate(this.ctx);
    } catch (e) {
      return this.fail(e);
    }
    if (!isPromiseLike(passed)) return this.run();
    passed.then(
      () => (this.call.ended ? this.cleanup() : this.run()),
      (e: unknown) => this.fail(e),
    );
  }

  private run(): void {
    const kind = this.route.method.methodKind;
    if (kind === "unary" || kind === "server_streaming") return this.readSingle();
    this.scoped(this.requestStream());
  }

  // The handler may start later than the call (its request arrives in another event): enter the call's scope again.
  private scoped(input: unknown): void {
    if (this.scope) this.scope(() => this.invoke(input));
    else this.invoke(input);
  }

  // Calls the user's function in its kind's convention.
  private invoke(input: unknown): void {
    let result: unknown;
    try {
      result = this.route.impl(input, this.ctx);
    } catch (e) {
      return this.fail(e);
    }
    const kind = this.route.method.methodKind;
    if (kind === "unary" || kind === "client_streaming") this.settleUnary(result);
    else this.settleStream(result);
  }

  // --- requests -------------------------------------------------------------------------

  // Unary and server streaming: exactly one message, then the client's half-close.
  private readSingle(): void {
    this.reading = "single";
    const stream = this.call.stream;
    // The client may have half-closed in its HEADERS frame already.
    if (stream.remoteEnded || stream.readableLength > 0) this.checkSingle();
  }

  private checkSingle(): void {
    const stream = this.call.stream;
    if (this.call.ended) return;
    if (stream.readableLength > 1)
      return this.failWith(
        Status.INTERNAL,
        "received more than one request message for a unary or server-streaming method",
      );
    if (!stream.remoteEnded) return;
    this.reading = undefined;
    const bytes = stream.read();
    if (bytes === undefined)
      return this.failWith(Status.INTERNAL, "the client half-closed without sending the request message");
    let req: unknown;
    try {
      req = this.decode(bytes);
    } catch {
      return; // decode() has failed the call
    }
    this.scoped(req);
  }

  // Client and bidi streaming: the requests as the handler's AsyncIterable. They are read only as
  // the handler asks, so credit goes back to the client at the handler's pace.
  private requestStream(): MessageIterator<unknown> {
    const { call } = this;
    let finished = false;
    const requests = new MessageIterator<unknown>(() => {
      if (finished) return DONE;
      if (call.aborted) throw call.abortReason;
      if (call.ended) return DONE;
      const bytes = call.stream.read();
      if (bytes !== undefined) return { done: false, value: this.decode(bytes) };
      if (!call.stream.remoteEnded) return undefined;
      finished = true;
      return DONE;
    });
    this.requests = requests;
    this.reading = "stream";
    return requests;
  }

  private decode(bytes: Uint8Array): unknown {
    this.call.sizes?.request(bytes.length);
    try {
      return fromBinary(this.route.method.input, bytes, this.route.readOptions);
    } catch (e) {
      const error = new ConnectError(
        `failed to parse the request message: ${e instanceof Error ? e.message : String(e)}`,
        Code.Internal,
      );
      this.call.end({ code: Status.INTERNAL, message: error.rawMessage, abort: true });
      throw error;
    }
  }

  // --- responses ------------------------------------------------------------------------

  // Unary and client streaming: the function returns one response (or a promise of it).
  private settleUnary(result: unknown): void {
    if (isPromiseLike(result)) {
      result.then(
        (res) => this.respondOnce(res),
        (e: unknown) => this.fail(e),
      );
    } else {
      this.respondOnce(result);
    }
  }

  private respondOnce(res: unknown): void {
    if (this.call.ended) return this.cleanup();
    try {
      this.send(res);
    } catch (e) {
      return this.fail(e);
    }
    this.finish();
  }

  // Server and bidi streaming: the function returns an AsyncIterable of responses.
  private settleStream(result: unknown): void {
    let it: AsyncIterator<unknown>;
    try {
      it = (result as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    } catch (e) {
      return this.fail(e);
    }
    this.pump(it);
  }

  // Not an async function: one frame and promise fewer held by every open streaming call.
  private pump(it: AsyncIterator<unknown>): void {
    // Pauses the generator while the stream's queue is full: never buffer without bound.
    pipeMessages(it, this).then(
      (outcome) => (outcome === "done" ? this.finish() : this.abandon(it)),
      (e: unknown) => {
        this.fail(e);
        this.abandon(it);
      },
    );
  }

  // Cancelled, timed out or failed mid-stream: let the generator run its finally blocks.
  private abandon(it: AsyncIterator<unknown>): void {
    this.cleanup();
    try {
      Promise.resolve(it.return?.()).catch(ignore);
    } catch {
      // The call is over; nothing to report to.
    }
  }

  // --- MessageSink: the responses of a streaming handler, written by pipeMessages ----------

  get stopped(): boolean {
    return this.call.ended;
  }

  write(value: unknown): boolean {
    return this.send(value);
  }

  writable(): Promise<void> {
    return (this.gate ??= new WritableGate()).wait();
  }

  /** Encodes and queues one response; returns false when the handler should wait for `onWritable`. */
  private send(value: unknown): boolean {
    if (this.call.ended) return false;
    const schema: DescMessage = this.route.method.output;
    const message = isMessage(value, schema) ? value : create(schema, value as never);
    const bytes = encodeMessage(schema, message, this.route.writeOptions);
    if (bytes.length > this.maxOut) {
      throw new ConnectError(
        `response message of ${bytes.length} bytes exceeds the client's limit of ${this.maxOut} bytes`,
        Code.ResourceExhausted,
      );
    }
    this.sendHeaders();
    this.call.sizes?.response(bytes.length);
    return this.call.stream.write(bytes);
  }

  private sendHeaders(): void {
    if (this.headersSent) return;
    this.headersSent = true;
    try {
      const set = this.ctx.responseHeaderIfMade;
      this.call.stream.sendHeaders(set === undefined ? NO_METADATA : headersToMetadata(set, RESERVED_NAMES));
    } catch (e) {
      // Unencodable, or larger than the client's max frame size (the echo of a large request header).
      throw new ConnectError(
        `invalid response header metadata: ${e instanceof Error ? e.message : String(e)}`,
        Code.Internal,
      );
    }
  }

  // --- outcome --------------------------------------------------------------------------

  private finish(): void {
    if (this.call.ended) return this.cleanup();
    try {
      this.sendHeaders();
      this.call.end({ code: Status.OK, message: "", trailers: okTrailers(this.ctx.responseTrailerIfMade) });
    } catch (e) {
      return this.fail(e);
    }
    this.cleanup();
  }

  private fail(e: unknown): void {
    if (this.call.ended) return this.cleanup(e);
    const error = toConnectError(e);
    let trailers;
    let code = error.code as number as Status;
    let message = error.rawMessage;
    try {
      trailers = errorTrailers(error, this.ctx.responseTrailerIfMade);
    } catch (conversion) {
      code = Status.INTERNAL;
      message = `invalid response trailer: ${conversion instanceof Error ? conversion.message : String(conversion)}`;
      trailers = createTrailers(code, message);
    }
    // Response headers the handler set before failing still reach the client; without any, trailers-only.
    const header = this.ctx.responseHeaderIfMade;
    if (!this.headersSent && header !== undefined && !isEmpty(header)) {
      try {
        this.sendHeaders();
      } catch {
        // Invalid header metadata: the status still goes out.
      }
    }
    this.call.end({ code, message, trailers, error: e });
    this.cleanup(error);
  }

  private failWith(code: Status, message: string): void {
    this.fail(new ConnectError(message, code as number as Code));
  }

  // Connect's contract: the context's signal fires once the call is complete, whatever the
  // outcome: with the error on failure, else with the shared CALL_COMPLETE (no DOMException per call).
  private cleanup(reason?: unknown): void {
    this.call.abort(reason ?? CALL_COMPLETE);
    this.reading = undefined;
  }
}

const NO_METADATA: Metadata = [];
// The call is over; nothing to report to.
const ignore = (): void => {};
const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === "object" && value !== null && typeof (value as { then?: unknown }).then === "function";
}

function isEmpty(headers: Headers): boolean {
  for (const _ of headers.keys()) return false;
  return true;
}

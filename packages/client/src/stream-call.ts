import type { DescMessage, DescMethodStreaming, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type StreamResponse } from "@connectrpc/connect";
import type { Stream } from "@grpc-ws/wire";
import { Call, type CallContext } from "./call.js";

const noop = (): void => {};
const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

type Waiter<T> = { resolve: (result: IteratorResult<T>) => void; reject: (error: ConnectError) => void };

/**
 * A streaming call (server, client or bidi). The response resolves when the response headers
 * arrive; its `message` iterable reads the wire stream on demand, so the server's credit for this
 * call comes back only as fast as the consumer reads. Requests are pulled from the input iterable
 * only while the stream is writable.
 */
export class StreamCall<I extends DescMessage, O extends DescMessage>
  extends Call
  implements AsyncIterator<MessageShape<O>>, AsyncIterable<MessageShape<O>>
{
  private resolveHead!: (response: StreamResponse<I, O>) => void;
  private rejectHead!: (error: ConnectError) => void;
  private headSettled = false;
  /** Ends iteration at once: a reset, a local failure, a deadline or an abort. */
  private error: ConnectError | undefined;
  /** TRAILERS arrived: `null` for OK, else the status error, reported after the queued messages. */
  private status: ConnectError | null | undefined;
  private readonly waiters: Array<Waiter<MessageShape<O>>> = [];
  private received = 0;
  private input: AsyncIterator<MessageInitShape<I>> | undefined;
  private inputDone = false;
  private writableWaiter: (() => void) | undefined;
  /** return() was called: every next() reports the end. */
  private returned = false;

  constructor(
    ctx: CallContext,
    private readonly streamMethod: DescMethodStreaming<I, O>,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    header: Headers,
    private readonly requests: AsyncIterable<MessageInitShape<I>>,
  ) {
    super(ctx, streamMethod, signal, timeoutMs, header);
  }

  run(): Promise<StreamResponse<I, O>> {
    const promise = new Promise<StreamResponse<I, O>>((resolve, reject) => {
      this.resolveHead = resolve;
      this.rejectHead = reject;
    });
    // Connect's client awaits this only when iteration starts, so a call that fails earlier would
    // be an unhandled rejection (fatal in Node); the error still reaches whoever awaits it.
    promise.catch(noop);
    this.begin();
    return promise;
  }

  [Symbol.asyncIterator](): AsyncIterator<MessageShape<O>> {
    return this;
  }

  next(): Promise<IteratorResult<MessageShape<O>>> {
    // Fast path: a message (or the outcome) is already here; no waiter, no executor closure.
    if (this.waiters.length === 0) {
      const result = this.take();
      if (result !== undefined) return result instanceof ConnectError ? Promise.reject(result) : Promise.resolve(result);
    }
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** The consumer stopped early (`break`): the call is cancelled; iteration is over. */
  return(): Promise<IteratorResult<MessageShape<O>>> {
    this.returned = true;
    this.fail(new ConnectError("the response stream was abandoned by its consumer", Code.Canceled));
    this.wake();
    return Promise.resolve({ done: true, value: undefined });
  }

  // --- requests ------------------------------------------------------------------------------

  protected opened(stream: Stream, maxRequestSize: number): void {
    this.input = this.requests[Symbol.asyncIterator]();
    void this.pumpRequests(stream, this.input, maxRequestSize);
  }

  private async pumpRequests(stream: Stream, input: AsyncIterator<MessageInitShape<I>>, maxRequestSize: number): Promise<void> {
    const schema = this.streamMethod.input;
    try {
      for (;;) {
        const result = await input.next();
        if (this.finished || stream.sendClosed) break;
        if (result.done) {
          this.inputDone = true;
          stream.halfClose();
          return;
        }
        const bytes = this.encode(schema, result.value, maxRequestSize);
        if (bytes === undefined) break;
        if (!stream.write(bytes)) {
          await new Promise<void>((resolve) => (this.writableWaiter = resolve));
          if (this.finished || stream.closed) break;
        }
      }
    } catch (error) {
      this.inputDone = true;
      this.fail(ConnectError.from(error));
      return;
    }
    this.closeInput();
  }

  onWritable(): void {
    const waiter = this.writableWaiter;
    this.writableWaiter = undefined;
    waiter?.();
  }

  // Lets the request iterable release what it holds once the call no longer needs it.
  private closeInput(): void {
    if (this.inputDone || this.input === undefined) return;
    this.inputDone = true;
    try {
      this.input.return?.()?.catch(() => {});
    } catch {
      // A broken iterator's return() is not this call's failure.
    }
  }

  // --- responses -----------------------------------------------------------------------------

  protected override headersArrived(): void {
    this.resolveHeadOnce();
  }

  onReadable(): void {
    if (this.waiters.length > 0) this.wake();
  }

  protected trailersArrived(error: ConnectError | undefined): void {
    if (error === undefined && this.streamMethod.methodKind === "client_streaming" && this.received + this.stream!.readableLength === 0) {
      error = new ConnectError("protocol error: missing response message", Code.Unimplemented);
    }
    this.status = error ?? null;
    // Trailers-only with an error: the call fails before any response, as in Connect's gRPC transport.
    if (error && !this.headSettled) return this.settle(error);
    this.settle(undefined);
  }

  protected settled(error: ConnectError | undefined): void {
    this.onWritable();
    if (this.input !== undefined && !this.inputDone && (error !== undefined || this.stream?.closed)) this.closeInput();
    if (error !== undefined) {
      this.error = error;
      if (!this.headSettled) {
        this.headSettled = true;
        this.rejectHead(error);
      }
    } else {
      this.resolveHeadOnce();
    }
    this.wake();
  }

  // A bad message fails the call, or only the iteration when the status already arrived.
  private failIteration(error: ConnectError): void {
    if (!this.finished) this.fail(error);
    else this.error = error;
  }

  private resolveHeadOnce(): void {
    if (this.headSettled) return;
    this.headSettled = true;
    const method = this.streamMethod;
    this.resolveHead({ stream: true, service: method.parent, method, header: this.header, trailer: this.trailer, message: this });
  }

  // Settles waiting next() calls from what the stream holds.
  private wake(): void {
    while (this.waiters.length > 0) {
      const result = this.take();
      if (result === undefined) return; // wait for more
      // take() may have failed the call, which already settled every waiter with the error.
      const waiter = this.waiters.shift();
      if (waiter === undefined) return;
      if (result instanceof ConnectError) waiter.reject(result);
      else waiter.resolve(result);
    }
  }

  // The next outcome for the consumer: a message, the end, an error, or undefined to wait.
  private take(): IteratorResult<MessageShape<O>> | ConnectError | undefined {
    for (;;) {
      if (this.returned) return DONE;
      if (this.error !== undefined) return this.error;
      const bytes = this.stream?.read();
      if (bytes !== undefined) {
        this.received++;
        try {
          if (this.streamMethod.methodKind === "client_streaming" && this.received > 1) {
            throw new ConnectError("protocol error: received extra messages for client streaming method", Code.Unimplemented);
          }
          return { done: false, value: this.decode(this.streamMethod.output, bytes) };
        } catch (error) {
          this.failIteration(error as ConnectError);
          continue;
        }
      }
      if (this.status === undefined) return undefined;
      if (this.status === null) return DONE;
      const status = this.status;
      this.status = null; // reported once; later next() calls see the end
      return status;
    }
  }
}

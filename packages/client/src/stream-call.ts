import type { DescMessage, DescMethodStreaming, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type StreamResponse } from "@connectrpc/connect";
import { type Stream } from "@grpc-ws/wire";
import {
  MessageIterator,
  WritableGate,
  pipeMessages,
  type MessageDeflater,
  type MessageSink,
} from "@grpc-ws/wire/internal";
import { Call, type CallContext } from "./call.js";
import { requestDeflater } from "./compression.js";

const noop = (): void => {};
const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/**
 * A streaming call (server, client or bidi). The response resolves when the response headers
 * arrive; its `message` iterable reads the wire stream on demand, so the server's credit for this
 * call comes back only as fast as the consumer reads. Requests are pulled from the input iterable
 * only while the stream is writable.
 */
export class StreamCall<I extends DescMessage, O extends DescMessage> extends Call {
  private resolveHead!: (response: StreamResponse<I, O>) => void;
  private rejectHead!: (error: ConnectError) => void;
  private headSettled = false;
  /** Ends iteration at once: a reset, a local failure, a deadline or an abort. */
  private error: ConnectError | undefined;
  /** TRAILERS arrived: `null` for OK, else the status error, reported after the queued messages. */
  private status: ConnectError | null | undefined;
  private received = 0;
  private input: AsyncIterator<MessageInitShape<I>> | undefined;
  private inputDone = false;
  private readonly gate = new WritableGate();
  /** Set with `sendCompression`: requests go through it, in order, compressed or not. */
  private deflater: MessageDeflater | undefined;
  private readonly responses = new MessageIterator<MessageShape<O>>(
    () => this.pull(),
    // The consumer stopped early (`break`): the call is cancelled.
    () => this.fail(new ConnectError("the response stream was abandoned by its consumer", Code.Canceled)),
  );

  constructor(
    ctx: CallContext,
    private readonly streamMethod: DescMethodStreaming<I, O>,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    header: Headers | undefined,
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

  // --- requests ------------------------------------------------------------------------------

  protected opened(stream: Stream, maxRequestSize: number): void {
    if (this.input === undefined) {
      this.deflater = requestDeflater(
        this.ctx.compression,
        this.writeHighWaterMark,
        (bytes, compressed) => this.send(bytes, compressed),
        () => this.gate.open(),
      );
      this.input = this.requests[Symbol.asyncIterator]();
      void this.sendRequests(this.input, maxRequestSize);
      return;
    }
    // A transparent retry: the new stream carries again what the refused one did (and its
    // half-close), then the writer loop, waiting at the gate, goes on with the new stream.
    const { messages, ended } = this.retry.replayed();
    for (const [message, compressed] of messages) stream.write(message, compressed);
    if (ended) stream.halfClose();
    this.gate.open();
  }

  // Writes to whichever stream is current: a transparent retry replaces it (see opened()).
  private async sendRequests(input: AsyncIterator<MessageInitShape<I>>, maxRequestSize: number): Promise<void> {
    const schema = this.streamMethod.input;
    const call = this;
    const sink: MessageSink<MessageInitShape<I>> = {
      get stopped() {
        return call.finished || call.stream?.sendClosed === true;
      },
      // encode() fails the call (and returns undefined) for a message that cannot be sent.
      write: (value) => {
        const bytes = this.encode(schema, value, maxRequestSize);
        if (bytes === undefined) return false;
        const deflater = this.deflater;
        if (deflater === undefined) return this.send(bytes, false);
        // No stream while a retry waits for one: the replay will carry this message.
        return deflater.write(bytes) && this.stream !== undefined && this.stream.writable;
      },
      writable: () => this.gate.wait(),
    };
    try {
      if ((await pipeMessages(input, sink)) === "done") {
        this.inputDone = true;
        // The half-close follows the last request, which may still be compressing.
        const halfClose = (): void => {
          this.retry.ended = true;
          this.stream?.halfClose();
        };
        if (this.deflater === undefined) return halfClose();
        this.deflater.end(halfClose, (error) =>
          this.fail(new ConnectError(`compress request: ${String(error)}`, Code.Internal)),
        );
        return;
      }
    } catch (error) {
      this.inputDone = true;
      this.fail(ConnectError.from(error));
      return;
    }
    this.closeInput();
  }

  // One request message, as it goes on the wire; kept for a transparent retry.
  private send(bytes: Uint8Array, compressed: boolean): boolean {
    this.retry.sent(bytes, compressed);
    // No stream while a retry waits for one: the replay will carry this message.
    return this.stream !== undefined && this.stream.write(bytes, compressed);
  }

  onWritable(): void {
    this.gate.open();
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
    this.responses.wake();
  }

  // After the status arrived the call is settled: the failure is reported where iteration stands.
  protected override inboundFailed(error: ConnectError): void {
    if (!this.finished) return this.fail(error);
    this.error = error;
    this.responses.wake();
  }

  protected trailersArrived(error: ConnectError | undefined): void {
    if (
      error === undefined &&
      this.streamMethod.methodKind === "client_streaming" &&
      this.received + this.unreadMessages === 0
    ) {
      error = new ConnectError("protocol error: missing response message", Code.Unimplemented);
    }
    this.status = error ?? null;
    // Trailers-only with an error: the call fails before any response, as in Connect's gRPC transport.
    if (error && !this.headSettled) return this.settle(error);
    this.settle(undefined);
  }

  protected settled(error: ConnectError | undefined): void {
    this.deflater?.stop();
    this.gate.open();
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
    this.responses.wake();
  }

  private resolveHeadOnce(): void {
    if (this.headSettled) return;
    this.headSettled = true;
    const method = this.streamMethod;
    this.resolveHead({
      stream: true,
      service: method.parent,
      method,
      header: this.header,
      trailer: this.trailer,
      message: this.responses,
    });
  }

  // The next outcome for the consumer: a message, the end, or undefined to wait; throws the error.
  private pull(): IteratorResult<MessageShape<O>, undefined> | undefined {
    for (;;) {
      if (this.error !== undefined) throw this.error;
      const bytes = this.readMessage();
      if (bytes !== undefined) {
        this.received++;
        try {
          if (this.streamMethod.methodKind === "client_streaming" && this.received > 1) {
            throw new ConnectError(
              "protocol error: received extra messages for client streaming method",
              Code.Unimplemented,
            );
          }
          return { done: false, value: this.decode(this.streamMethod.output, bytes) };
        } catch (error) {
          // A bad message fails the call, or only the iteration when the status already arrived.
          if (!this.finished) this.fail(error as ConnectError);
          else this.error = error as ConnectError;
          continue;
        }
      }
      if (this.status === undefined || this.inflating) return undefined;
      if (this.status === null) return DONE;
      const status = this.status;
      this.status = null; // reported once; later next() calls see the end
      throw status;
    }
  }
}

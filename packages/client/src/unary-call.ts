import type { DescMessage, DescMethodUnary, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type UnaryResponse } from "@connectrpc/connect";
import { compressMessage, type Stream } from "@grpc-ws/wire";
import { Call, type CallContext } from "./call.js";

/** A unary call: one request message then END_STREAM; exactly one response message. */
export class UnaryCall<I extends DescMessage, O extends DescMessage> extends Call {
  private response: MessageShape<O> | undefined;
  private packed: Promise<{ bytes: Uint8Array; compressed: boolean }> | undefined;
  private resolve!: (response: UnaryResponse<I, O>) => void;
  private reject!: (error: ConnectError) => void;

  constructor(
    ctx: CallContext,
    private readonly unaryMethod: DescMethodUnary<I, O>,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    header: Headers | undefined,
    private readonly request: MessageInitShape<I>,
  ) {
    super(ctx, unaryMethod, signal, timeoutMs, header);
  }

  run(): Promise<UnaryResponse<I, O>> {
    const promise = new Promise<UnaryResponse<I, O>>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.begin();
    return promise;
  }

  protected opened(stream: Stream, maxRequestSize: number): void {
    const { send, minBytes } = this.ctx.compression;
    if (send === undefined) {
      const bytes = this.encode(this.unaryMethod.input, this.request, maxRequestSize);
      if (bytes !== undefined) stream.halfClose(bytes);
      return;
    }
    // Compressed once, kept for a transparent retry on a new stream.
    if (this.packed === undefined) {
      const bytes = this.encode(this.unaryMethod.input, this.request, maxRequestSize);
      if (bytes === undefined) return;
      // Below `minBytes` nothing is compressed: sent at once, as on the uncompressed path (no promise).
      if (bytes.length < minBytes) return stream.halfClose(bytes);
      this.packed = compressMessage(send, bytes, minBytes);
    }
    this.packed.then(
      (out) => {
        if (!this.finished && this.stream === stream) stream.halfClose(out.bytes, out.compressed);
      },
      (error: unknown) => this.fail(new ConnectError(`compress request: ${String(error)}`, Code.Internal)),
    );
  }

  onReadable(): void {
    const stream = this.stream;
    if (stream === undefined) return;
    let bytes: Uint8Array | undefined;
    while (!this.finished && (bytes = this.readMessage()) !== undefined) {
      if (this.response !== undefined) {
        return this.fail(
          new ConnectError("protocol error: received extra output message for unary method", Code.Unimplemented),
        );
      }
      try {
        this.response = this.decode(this.unaryMethod.output, bytes);
      } catch (error) {
        return this.fail(error as ConnectError);
      }
    }
  }

  protected trailersArrived(error: ConnectError | undefined): void {
    this.onReadable();
    if (this.finished) return;
    if (error) return this.settle(error);
    if (this.response === undefined) {
      return this.settle(
        new ConnectError("protocol error: missing output message for unary method", Code.Unimplemented),
      );
    }
    this.settle(undefined);
  }

  protected settled(error: ConnectError | undefined): void {
    if (error) return this.reject(error);
    this.resolve({
      stream: false,
      service: this.unaryMethod.parent,
      method: this.unaryMethod,
      header: this.header,
      message: this.response as MessageShape<O>,
      trailer: this.trailer,
    });
  }
}

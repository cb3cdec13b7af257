import {
  GRPC_ACCEPT_ENCODING,
  GRPC_ENCODING,
  MessageError,
  Status,
  compressMessage,
  createTrailers,
  decompressMessage,
  type Compression,
  type Metadata,
  type StreamEvents,
} from "@grpc-ws/wire";
import type { CallStream } from "./server-call.js";

/** A call stream that can carry compressed messages (flag bit 0 of the message prefix). */
export interface CompressibleStream extends CallStream {
  /** Lets compressed request messages through instead of failing them INTERNAL. */
  acceptCompressed(): void;
  /** Whether the message the last `read()` returned had the compressed flag. */
  readonly lastReadCompressed: boolean;
  write(message: Uint8Array, compressed?: boolean): boolean;
}

export interface CompressionSetup {
  /** How request messages are compressed (undefined: identity). */
  request: Compression | undefined;
  /** How response messages are compressed (undefined: identity). */
  response: Compression | undefined;
  /** The `grpc-accept-encoding` this side sends. */
  acceptEncoding: string;
  /** Responses smaller than this go uncompressed. */
  compressMinBytes: number;
  /** The limit on a decompressed request message. */
  maxMessageSize: number;
  /** Response bytes waiting for compression before `write()` returns false. */
  writeHighWaterMark: number;
}

/**
 * The call core's view of a call with a negotiated `grpc-encoding`: the handler (or anything else
 * that serves the call) reads and writes plain messages; this decompresses requests one at a time
 * in order (so flow-control credit still follows the handler's pace) and compresses responses in
 * order, holding the trailers until the last response is on its way.
 */
export class CompressingCallStream implements CallStream {
  events: StreamEvents = {};
  private readonly inbox: Uint8Array[] = [];
  private inflating = false;
  private failed = false;
  private outbound: Promise<void> = Promise.resolve();
  private outboundBytes = 0;
  private outboundBlocked = false;

  constructor(
    private readonly inner: CompressibleStream,
    private readonly setup: CompressionSetup,
  ) {
    if (setup.request) inner.acceptCompressed();
    inner.events = {
      onReadable: () => this.pull(),
      onWritable: () => this.events.onWritable?.(),
      onReset: (code, error) => this.events.onReset?.(code, error),
    };
  }

  get remoteEnded(): boolean {
    return this.inner.remoteEnded && !this.inflating && this.inner.readableLength === 0;
  }

  get readableLength(): number {
    return this.inbox.length;
  }

  read(): Uint8Array | undefined {
    const message = this.inbox.shift();
    if (message !== undefined) this.pull();
    return message;
  }

  sendHeaders(headers: Metadata): void {
    const out: Metadata = [...headers, [GRPC_ACCEPT_ENCODING, this.setup.acceptEncoding]];
    if (this.setup.response) out.push([GRPC_ENCODING, this.setup.response.name]);
    this.inner.sendHeaders(out);
  }

  write(message: Uint8Array): boolean {
    if (this.failed) return false;
    const { response, compressMinBytes } = this.setup;
    const compress = response !== undefined && message.length >= compressMinBytes;
    if (!compress && this.outboundBytes === 0) return this.inner.write(message);
    this.outboundBytes += message.length;
    this.outbound = this.outbound.then(async () => {
      try {
        const out = await compressMessage(response, message, compressMinBytes);
        if (!this.failed) this.inner.write(out.bytes, out.compressed);
      } finally {
        this.outboundBytes -= message.length;
        this.wakeWriter();
      }
    });
    this.outbound.catch(() => undefined);
    if (this.outboundBytes < this.setup.writeHighWaterMark && this.inner.writable) return true;
    this.outboundBlocked = true;
    return false;
  }

  sendTrailers(trailers: Metadata, discardQueued = false): void {
    if (discardQueued || this.outboundBytes === 0) return this.inner.sendTrailers(trailers, discardQueued);
    const send = (): void => this.inner.sendTrailers(trailers);
    this.outbound = this.outbound.then(send, () =>
      this.inner.sendTrailers(createTrailers(Status.INTERNAL, "failed to compress a response message")),
    );
  }

  reset(code: number): void {
    this.failed = true;
    this.inner.reset(code);
  }

  // Takes request messages from the wire while fewer than two wait here (two, so that a second
  // message on a unary call is seen and refused), inflating compressed ones in order.
  private pull(): void {
    while (!this.inflating && !this.failed && this.inbox.length < 2) {
      const bytes = this.inner.read();
      if (bytes === undefined) break;
      if (!this.inner.lastReadCompressed) {
        this.inbox.push(bytes);
        continue;
      }
      this.inflating = true;
      decompressMessage(this.setup.request, bytes, this.setup.maxMessageSize).then(
        (plain) => {
          this.inflating = false;
          this.inbox.push(plain);
          this.pull();
        },
        (error: unknown) => {
          this.inflating = false;
          this.refuse(error instanceof MessageError ? error : new MessageError(Status.INTERNAL, String(error)));
        },
      );
      return;
    }
    this.events.onReadable?.();
  }

  // As the wire does for a message over the limit: the status goes out, then the core hears of it.
  private refuse(error: MessageError): void {
    if (this.failed) return;
    this.failed = true;
    this.inner.sendTrailers(createTrailers(error.status, error.message), true);
    this.events.onReset?.(0x8, error);
  }

  // A compression finished: a handler told to wait may go on once the backlog is small again.
  private wakeWriter(): void {
    if (!this.outboundBlocked || this.outboundBytes >= this.setup.writeHighWaterMark) return;
    this.outboundBlocked = false;
    this.events.onWritable?.();
  }

  get writable(): boolean {
    return this.outboundBytes < this.setup.writeHighWaterMark && this.inner.writable;
  }
}

import {
  GRPC_ACCEPT_ENCODING,
  GRPC_ENCODING,
  Status,
  createTrailers,
  type Compression,
  type MessageError,
  type MessageCompression,
  type Metadata,
  type StreamEvents,
} from "@grpc-ws/wire";
import { MessageDeflater, MessageInflater } from "@grpc-ws/wire/internal";
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
 * order, holding the trailers until the last response is on its way. Both halves are wire's
 * (`MessageInflater`, `MessageDeflater`), shared with the client.
 */
export class CompressingCallStream implements CallStream {
  events: StreamEvents = {};
  private failed = false;
  private readonly inflater: MessageInflater;
  private readonly deflater: MessageDeflater;
  /** The handler's view (`messageCompressionKey`): the last request's flag, and whether responses are compressed. */
  readonly messageCompression: MessageCompression;

  constructor(
    private readonly inner: CompressibleStream,
    private readonly setup: CompressionSetup,
  ) {
    if (setup.request) inner.acceptCompressed();
    this.inflater = new MessageInflater(
      inner,
      setup.request,
      setup.maxMessageSize,
      () => this.events.onReadable?.(),
      (error) => this.refuse(error),
    );
    this.deflater = new MessageDeflater(
      setup.response,
      setup.compressMinBytes,
      setup.writeHighWaterMark,
      (bytes, compressed) => void this.inner.write(bytes, compressed),
      () => this.events.onWritable?.(),
    );
    const inflater = this.inflater;
    this.messageCompression = {
      get lastRequestCompressed() {
        return inflater.lastReadCompressed;
      },
      compressResponses: true,
    };
    inner.events = {
      onReadable: () => {
        this.inflater.fill();
        this.events.onReadable?.();
      },
      onWritable: () => this.events.onWritable?.(),
      onReset: (code, error) => this.events.onReset?.(code, error),
    };
  }

  get remoteEnded(): boolean {
    return this.inner.remoteEnded && !this.inflater.inflating && this.inner.readableLength === 0;
  }

  get readableLength(): number {
    return this.inflater.readableLength;
  }

  read(): Uint8Array | undefined {
    return this.inflater.read();
  }

  sendHeaders(headers: Metadata): void {
    const out: Metadata = [...headers, [GRPC_ACCEPT_ENCODING, this.setup.acceptEncoding]];
    if (this.setup.response) out.push([GRPC_ENCODING, this.setup.response.name]);
    this.inner.sendHeaders(out);
  }

  write(message: Uint8Array): boolean {
    if (this.failed) return false;
    return this.deflater.write(message, this.messageCompression.compressResponses) && this.inner.writable;
  }

  sendTrailers(trailers: Metadata, discardQueued = false): void {
    if (discardQueued) {
      this.deflater.stop();
      return this.inner.sendTrailers(trailers, true);
    }
    this.deflater.end(
      () => this.inner.sendTrailers(trailers),
      () => this.inner.sendTrailers(createTrailers(Status.INTERNAL, "failed to compress a response message")),
    );
  }

  reset(code: number): void {
    this.failed = true;
    this.inflater.stop();
    this.deflater.stop();
    this.inner.reset(code);
  }

  // As the wire does for a message over the limit: the status goes out, then the core hears of it.
  private refuse(error: MessageError): void {
    if (this.failed) return;
    this.failed = true;
    this.deflater.stop();
    this.inner.sendTrailers(createTrailers(error.status, error.message), true);
    this.events.onReset?.(0x8, error);
  }

  get writable(): boolean {
    return this.deflater.writable && this.inner.writable;
  }
}

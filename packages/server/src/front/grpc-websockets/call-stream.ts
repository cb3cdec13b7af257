import {
  ErrorCode,
  GrpcWebSocketsError,
  MESSAGE_PREFIX_SIZE,
  MessageError,
  MessageFlags,
  MessageReader,
  Status,
  createTrailers,
  encodeMetadataFrame,
  readClientMessage,
  writeMessagePrefix,
  type Metadata,
  type StreamEvents,
} from "@grpc-ws/wire";
import { WebSocket } from "ws";
import type { CompressibleStream } from "../../compression-stream.js";

/** What a call stream needs from its socket's owner. */
export interface CallSocketOptions {
  /** Largest request message accepted (the bridge's MAX_MESSAGE_SIZE). */
  maxMessageSize: number;
  /** Request bytes queued for the handler before the socket is no longer read. */
  readHighWaterMark: number;
  /** Response bytes buffered in the socket before `write()` returns false. */
  writeHighWaterMark: number;
}

const BINARY = { binary: true } as const;
const NORMAL_CLOSURE = 1000;

/**
 * The one call of a `grpc-websockets` socket, seen by the call core as a stream: request messages
 * from 0x00-tagged socket messages, half-close from 0x01; responses as gRPC-Web frames (headers
 * first, trailers last, then a clean close). Backpressure both ways is the socket's own: reading
 * pauses while the handler has `readHighWaterMark` bytes unread, and `write()` returns false
 * while the socket holds `writeHighWaterMark` bytes.
 */
export class WebSocketCallStream implements CompressibleStream {
  events: StreamEvents = {};
  remoteEnded = false;
  lastReadCompressed = false;
  /** Trailers were sent or the call was abandoned: nothing more goes out. */
  closed = false;
  private headersSent = false;
  private readonly reader: MessageReader;
  private readonly inbox: Uint8Array[] = [];
  private readonly inboxCompressed: boolean[] = [];
  private queuedBytes = 0;
  private writeBlocked = false;
  private readonly deliver = (message: Uint8Array, compressed: boolean): void => {
    this.inbox.push(message);
    this.inboxCompressed.push(compressed);
    this.queuedBytes += message.length + MESSAGE_PREFIX_SIZE;
  };

  constructor(
    private readonly ws: WebSocket,
    private readonly options: CallSocketOptions,
  ) {
    this.reader = new MessageReader(options.maxMessageSize);
  }

  get readableLength(): number {
    return this.inbox.length;
  }

  get writable(): boolean {
    return this.ws.bufferedAmount < this.options.writeHighWaterMark;
  }

  /** One socket message after the header block. */
  receive(data: Uint8Array): void {
    if (this.closed) return;
    try {
      const message = readClientMessage(data);
      if (message.type === "empty") return;
      if (this.remoteEnded) throw new GrpcWebSocketsError("message after the end of the client stream");
      if (message.type === "end") {
        if (this.reader.partial > 0)
          throw new MessageError(
            Status.INTERNAL,
            `client stream ended inside a message (${this.reader.partial} bytes of it received)`,
          );
        this.remoteEnded = true;
      } else {
        this.reader.push(data.subarray(1), this.deliver);
      }
    } catch (e) {
      if (e instanceof MessageError) return this.refuse(e);
      if (e instanceof GrpcWebSocketsError)
        return this.refuse(new MessageError(Status.INTERNAL, `grpc-websockets: ${e.message}`));
      throw e;
    }
    if (this.queuedBytes > this.options.readHighWaterMark && !this.ws.isPaused) this.ws.pause();
    this.events.onReadable?.();
  }

  /** A text socket message: the subprotocol has none after the header block. */
  receiveText(): void {
    if (!this.closed)
      this.refuse(new MessageError(Status.INTERNAL, "grpc-websockets: text message after the header block"));
  }

  /** The socket closed (or failed) before the call ended: the client went away. */
  socketClosed(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.events.onReset?.(ErrorCode.CANCEL, new Error(reason));
  }

  acceptCompressed(): void {
    this.reader.acceptCompressed = true;
  }

  read(): Uint8Array | undefined {
    const message = this.inbox.shift();
    if (message === undefined) return undefined;
    this.lastReadCompressed = this.inboxCompressed.shift()!;
    this.queuedBytes -= message.length + MESSAGE_PREFIX_SIZE;
    if (this.ws.isPaused && this.queuedBytes <= this.options.readHighWaterMark >>> 1 && !this.closed) this.ws.resume();
    return message;
  }

  sendHeaders(headers: Metadata): void {
    if (this.closed || this.headersSent) return;
    const frame = encodeMetadataFrame(headers);
    this.headersSent = true;
    // A metadata frame must end its socket message: improbable-eng's parser stops after one.
    this.send(frame);
  }

  write(message: Uint8Array, compressed = false): boolean {
    if (this.closed) return false;
    if (!this.headersSent) this.sendHeaders([]);
    const frame = new Uint8Array(MESSAGE_PREFIX_SIZE + message.length);
    writeMessagePrefix(frame, 0, message.length, compressed ? MessageFlags.COMPRESSED : 0);
    frame.set(message, MESSAGE_PREFIX_SIZE);
    this.send(frame);
    if (this.writable) return true;
    this.writeBlocked = true;
    return false;
  }

  /**
   * Ends the call: the trailers frame (the only metadata frame when no headers went out:
   * trailers-only), then a clean close, which both clients need to finish the call. Messages
   * already handed to the socket cannot be taken back, so `discardQueued` changes nothing here.
   */
  sendTrailers(trailers: Metadata, _discardQueued = false): void {
    if (this.closed) return;
    const frame = encodeMetadataFrame(trailers);
    this.closed = true;
    this.send(frame);
    this.close();
  }

  /** There is no reset in this protocol: the client gets the status a reset would map to. */
  reset(code: number): void {
    if (this.closed) return;
    this.sendTrailers(
      createTrailers(code === ErrorCode.CANCEL ? Status.CANCELLED : Status.INTERNAL, "call reset by the server"),
    );
  }

  // A request the server cannot take: its status goes to the client, then the core hears of it.
  private refuse(error: MessageError): void {
    this.sendTrailers(createTrailers(error.status, error.message));
    this.events.onReset?.(ErrorCode.CANCEL, error);
  }

  private send(frame: Uint8Array): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(frame, BINARY, this.sent);
  }

  // One callback for every frame the call sends, not a closure per message.
  private readonly sent = (): void => {
    if (!this.writeBlocked || !this.writable) return;
    this.writeBlocked = false;
    this.events.onWritable?.();
  };

  private close(): void {
    if (this.ws.isPaused) this.ws.resume();
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(NORMAL_CLOSURE);
  }
}

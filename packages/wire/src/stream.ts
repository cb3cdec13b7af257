import { MESSAGE_PREFIX_SIZE, MessageReader } from "./message.js";
import type { Metadata } from "./metadata.js";
import type { Session } from "./session.js";

/** What a stream tells its owner. Every callback is optional; all run synchronously from the session. */
export interface StreamEvents {
  /** Client: the response HEADERS arrived. */
  onHeaders?(headers: Metadata): void;
  /** A message was queued for `read()`, or the peer ended its side (`remoteEnded`). */
  onReadable?(): void;
  /** Client: TRAILERS arrived and closed the stream; messages still queued remain readable. */
  onTrailers?(trailers: Metadata): void;
  /**
   * The stream ended abnormally: the peer reset it, the session closed, or a message broke a
   * limit. `code` is the RST_STREAM error code; `error` explains in words.
   */
  onReset?(code: number, error: Error): void;
  /** The outbound queue fell below the high-water mark: `write()` may be called again. */
  onWritable?(): void;
}

/**
 * One call on a session. Outbound messages queue here until the peer's flow-control windows let
 * the session frame them; inbound messages queue until the owner `read()`s them, and credit is
 * returned to the peer only as they are read.
 */
export class Stream {
  events: StreamEvents = {};

  // Outbound: whole messages; `head` is the next byte of queue[0] to send, from -5 (its prefix).
  /** @internal */ queue: Uint8Array[] = [];
  /** @internal */ head = -MESSAGE_PREFIX_SIZE;
  /** Outbound bytes (prefixes included) not yet framed. */
  pendingBytes = 0;
  /** @internal */ sendWindow: number;
  /** @internal */ endQueued = false;
  /** @internal */ trailersQueued: Metadata | null = null;
  /** @internal */ ready = false;

  // Inbound.
  /** @internal */ readonly reader: MessageReader;
  private readonly inbox: Uint8Array[] = [];
  private inboxHead = 0;
  /** Bytes of messages received and not yet read (prefixes included). */
  queuedBytes = 0;
  /** @internal */ unreturned = 0;
  /** @internal */ recvWindow: number;

  /** The peer sent END_STREAM (or, for a client, TRAILERS). */
  remoteEnded = false;
  /** This side sent END_STREAM or TRAILERS. */
  localEnded = false;
  /** No more frames will be sent or accepted for this stream. */
  closed = false;
  /** @internal */ headersReceived = false;

  constructor(
    readonly id: number,
    /** @internal */ readonly session: Session,
    sendWindow: number,
    recvWindow: number,
    maxMessageSize: number,
  ) {
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
    this.reader = new MessageReader(maxMessageSize);
  }

  /** False once the outbound queue holds `writeHighWaterMark` bytes: wait for `onWritable`. */
  get writable(): boolean {
    return this.pendingBytes < this.session.writeHighWaterMark;
  }

  /** Client: sends the request HEADERS (`:path` first). Server: sends the response HEADERS. */
  sendHeaders(headers: Metadata, endStream = false): void {
    this.session.sendHeaders(this, headers, endStream);
  }

  /** Queues one message (without prefix). Returns `writable`. The bytes must not change until sent. */
  write(message: Uint8Array): boolean {
    return this.session.write(this, message);
  }

  /**
   * Half-closes: END_STREAM goes out after every queued message. With `lastMessage`, that
   * message is queued first and carries END_STREAM on its last frame (one frame fewer than
   * `write` then `end`, for unary requests).
   */
  end(lastMessage?: Uint8Array): void {
    this.session.end(this, lastMessage);
  }

  /**
   * Server: ends the call with TRAILERS after every queued message, or at once with
   * `discardQueued` (a deadline or shutdown: queued messages no longer matter; if one is half
   * sent, the stream is reset with CANCEL instead).
   */
  sendTrailers(trailers: Metadata, discardQueued = false): void {
    this.session.sendTrailers(this, trailers, discardQueued);
  }

  /** Abandons the stream and tells the peer with RST_STREAM. */
  reset(code: number): void {
    this.session.reset(this, code);
  }

  /** Takes the next received message, returning its flow-control credit to the peer. */
  read(): Uint8Array | undefined {
    if (this.inboxHead === this.inbox.length) return undefined;
    const message = this.inbox[this.inboxHead]!;
    this.inbox[this.inboxHead++] = EMPTY;
    if (this.inboxHead === this.inbox.length) {
      this.inbox.length = 0;
      this.inboxHead = 0;
    }
    this.queuedBytes -= message.length + MESSAGE_PREFIX_SIZE;
    this.session.returnStreamCredit(this);
    return message;
  }

  /** Messages waiting in `read()`. */
  get readableLength(): number {
    return this.inbox.length - this.inboxHead;
  }

  /** @internal Bound once per stream: the session passes it to `MessageReader.push` for every DATA frame. */
  readonly deliver = (message: Uint8Array): void => {
    this.inbox.push(message);
    this.queuedBytes += message.length + MESSAGE_PREFIX_SIZE;
  };
}

const EMPTY = new Uint8Array(0);

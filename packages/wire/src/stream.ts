import { MESSAGE_OVERHEAD, type ConnectionBudget } from "./budget.js";
import { ErrorCode, ErrorCodeName, Flags, FrameType, MAX_WINDOW_SIZE } from "./constants.js";
import { ProtocolError } from "./errors.js";
import type { FrameWriter } from "./frame-writer.js";
import { MESSAGE_PREFIX_SIZE, MessageError, MessageReader } from "./message.js";
import { metadataSize, writeMetadata, type Metadata } from "./metadata.js";
import { HALF_CLOSE, OutboundQueue } from "./outbound-queue.js";
import { Status } from "./status.js";
import { createTrailers } from "./trailers.js";

/**
 * Where a stream stands at this side (docs/PROTOCOL.md section 4):
 * - `open`: both sides may send;
 * - `half-closed`: this side sent END_STREAM (a client after its last request message);
 * - `remote-ended`: the peer sent END_STREAM (a server after the client's last message);
 * - `ended`: both sent END_STREAM; only TRAILERS or RST_STREAM close it (a client that got a
 *   tolerated END_STREAM from the server waits for TRAILERS);
 * - `closed`: TRAILERS or RST_STREAM sent or received, or the session closed. Messages already
 *   received stay readable.
 */
export type StreamState = "open" | "half-closed" | "remote-ended" | "ended" | "closed";

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
 * @internal What a stream needs from its session: the shared frame writer, the peer's limits,
 * and the outbound scheduler. Implemented by `Session`.
 */
export interface StreamHost {
  readonly role: "client" | "server";
  readonly writer: FrameWriter;
  readonly writeHighWaterMark: number;
  /** This side's initial stream window: credit goes back when half of it was read. */
  readonly localStreamWindow: number;
  /** The peer's MAX_FRAME_SIZE (a HEADERS or TRAILERS block must fit in one frame). */
  readonly peerMaxFrameSize: number;
  /** The stream has bytes and window: frame it when the connection allows. */
  schedule(stream: Stream): void;
  /** The stream closed: drop it from the table. */
  streamClosed(stream: Stream): void;
  /** Trace line, when tracing is on. */
  trace: ((line: string) => void) | undefined;
  /** The connection's cost model: queued messages, held bytes and peer-caused resets are charged here. */
  readonly budget: ConnectionBudget;
  /** The bytes this stream holds against the connection window changed by `delta` (PROTOCOL.md 5.2). */
  held(delta: number): void;
  /** The most one stream holds against the connection window: a quarter of it (PROTOCOL.md 5.2). */
  readonly streamHoldLimit: number;
}

const EMPTY = new Uint8Array(0);

/**
 * One call on a session: its state, its outbound queue (framed when the flow-control windows
 * allow) and its inbound messages (credit returns to the peer only as they are read).
 */
export class Stream {
  /** Set by the stream's owner. */
  events: StreamEvents = {};

  private _state: StreamState = "open";
  private readonly out = new OutboundQueue();
  private scheduled = false;
  private sendWindow: number;
  private recvWindow: number;
  private unreturned = 0;
  private headersReceived = false;
  private readonly reader: MessageReader;
  private readonly inbox: Uint8Array[] = [];
  private inboxHead = 0;
  private _queuedBytes = 0;
  // What this stream has charged: `connHeld` to the connection window, the rest to the budget until close.
  private connHeld = 0;
  private accounted = true;

  /** @internal Created by the session. */
  constructor(
    readonly id: number,
    private readonly host: StreamHost,
    sendWindow: number,
    recvWindow: number,
    maxMessageSize: number,
  ) {
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
    this.reader = new MessageReader(maxMessageSize);
  }

  get state(): StreamState {
    return this._state;
  }

  /** No more frames will be sent or accepted for this stream. */
  get closed(): boolean {
    return this._state === "closed";
  }

  /** The peer sent END_STREAM (or, for a client, TRAILERS): no more messages arrive. */
  get remoteEnded(): boolean {
    const s = this._state;
    return s === "remote-ended" || s === "ended" || s === "closed";
  }

  /** This side sent (or queued) its last message: `write()` takes no more. */
  get sendClosed(): boolean {
    return (
      this.out.end !== undefined || this._state === "half-closed" || this._state === "ended" || this._state === "closed"
    );
  }

  /** Outbound bytes (prefixes included) not yet framed. */
  get pendingBytes(): number {
    return this.out.pendingBytes;
  }

  /** Bytes of messages received and not yet read (prefixes included). */
  get queuedBytes(): number {
    return this._queuedBytes;
  }

  /** False once the outbound queue holds `writeHighWaterMark` bytes: wait for `onWritable`. */
  get writable(): boolean {
    return this.out.pendingBytes < this.host.writeHighWaterMark;
  }

  /** Messages waiting in `read()`. */
  get readableLength(): number {
    return this.inbox.length - this.inboxHead;
  }

  // --- outbound ---------------------------------------------------------------------------

  /**
   * Client: sends the request HEADERS (`:path` first). Server: sends the response HEADERS.
   * Throws TypeError for metadata the wire cannot carry, RangeError for a block over the peer's
   * max frame size.
   */
  sendHeaders(headers: Metadata, endStream = false): void {
    if (this._state === "closed") return;
    this.writeMetadataBlock(FrameType.HEADERS, headers, this.checkFits(headers, "headers"), endStream);
    if (endStream) this.localEnd();
  }

  /**
   * Queues one message (without prefix; `compressed`: already compressed with the stream's
   * `grpc-encoding`, sent with the compressed flag). Returns `writable`. The bytes must not
   * change until sent.
   */
  write(message: Uint8Array, compressed = false): boolean {
    const out = this.out;
    if (out.end !== undefined || (this._state !== "open" && this._state !== "remote-ended")) return false;
    out.push(message, compressed);
    this.schedule();
    return out.pendingBytes < this.host.writeHighWaterMark;
  }

  /**
   * Half-closes: END_STREAM goes out after every queued message. With `lastMessage`, that
   * message is queued first and carries END_STREAM on its last frame (one frame fewer than
   * `write` then `halfClose`, for unary requests); `compressed` as for `write`.
   */
  halfClose(lastMessage?: Uint8Array, compressed = false): void {
    if (this.sendClosed) return;
    this.out.end = HALF_CLOSE;
    if (lastMessage) {
      this.out.push(lastMessage, compressed);
      this.schedule();
    } else if (this.out.pendingBytes === 0) {
      this.host.writer.begin(FrameType.DATA, Flags.END_STREAM, this.id, 0);
      this.localEnd();
    }
  }

  /**
   * Server: ends the call with TRAILERS after every queued message, or at once with
   * `discardQueued` (a deadline or shutdown: queued messages no longer matter; if one is half
   * sent, the stream is reset with CANCEL instead).
   */
  sendTrailers(trailers: Metadata, discardQueued = false): void {
    if (this._state === "closed" || this.out.end?.kind === "trailers") return;
    // Checked now: trailers written later from the session's pump must not throw there.
    const size = this.checkFits(trailers, "trailers");
    if (discardQueued) return this.trailersNow(trailers, size);
    this.out.end = { kind: "trailers", trailers, size };
    if (this.out.pendingBytes === 0) this.writeTrailers(trailers, size);
  }

  // Ends the stream with `trailers` at once, dropping queued messages. When half a message already
  // went out, trailers would corrupt it: the stream is reset instead.
  private trailersNow(trailers: Metadata, size: number): void {
    if (this.out.midMessage) return this.reset(ErrorCode.CANCEL);
    this.out.clear();
    this.out.end = { kind: "trailers", trailers, size };
    this.writeTrailers(trailers, size);
  }

  /** Abandons the stream and tells the peer with RST_STREAM. */
  reset(code: number): void {
    if (this._state === "closed") return;
    this.host.writer.rstStream(this.id, code);
    this.close();
  }

  /** @internal The session's pump: frames up to `limit` bytes of DATA; returns how many. */
  sendData(limit: number): number {
    this.scheduled = false;
    const out = this.out;
    const length = Math.min(limit, this.sendWindow, out.pendingBytes);
    if (this._state === "closed" || length <= 0) return 0;
    const hwm = this.host.writeHighWaterMark;
    const wasWritable = out.pendingBytes < hwm;
    const end = out.end;
    const flags = length === out.pendingBytes && end === HALF_CLOSE ? Flags.END_STREAM : 0;
    const writer = this.host.writer;
    const o = writer.begin(FrameType.DATA, flags, this.id, length);
    out.copyTo(writer.buf, o, length);
    this.sendWindow -= length;
    if (out.pendingBytes > 0) this.schedule();
    else if (end?.kind === "trailers") this.writeTrailers(end.trailers, end.size);
    else if (end !== undefined) this.localEnd();
    if (!wasWritable && out.pendingBytes < hwm && !this.closed) this.events.onWritable?.();
    return length;
  }

  /** @internal The connection window grew: frame what waits. */
  resume(): void {
    this.schedule();
  }

  private schedule(): void {
    if (!this.scheduled && this.out.pendingBytes > 0 && this.sendWindow > 0 && this._state !== "closed") {
      this.scheduled = true;
      this.host.schedule(this);
    }
  }

  private writeTrailers(trailers: Metadata, size: number): void {
    this.writeMetadataBlock(FrameType.TRAILERS, trailers, size, false);
    this.close();
  }

  // `size` is checkFits()'s: the block is measured (and validated) once, not again to be written.
  private writeMetadataBlock(type: FrameType, metadata: Metadata, size: number, endStream: boolean): void {
    const writer = this.host.writer;
    // begin() first: it may move the writer to a new slab.
    const offset = writer.begin(type, endStream ? Flags.END_STREAM : 0, this.id, size);
    writeMetadata(writer.buf, offset, metadata);
  }

  // HEADERS and TRAILERS are single frames: a block over the peer's MAX_FRAME_SIZE would be a
  // connection error there. Returns the block's size.
  private checkFits(metadata: Metadata, what: string): number {
    const size = metadataSize(metadata);
    const limit = this.host.peerMaxFrameSize;
    if (size > limit)
      throw new RangeError(`${what} of ${size} bytes exceed the peer's max frame size of ${limit} bytes`);
    return size;
  }

  // --- inbound ----------------------------------------------------------------------------

  /** Whether the message the last `read()` returned had the compressed flag (see `acceptCompressed`). */
  lastReadCompressed = false;

  /** The stream negotiated a `grpc-encoding`: compressed messages are read (flagged) instead of failing INTERNAL. */
  acceptCompressed(): void {
    this.reader.acceptCompressed = true;
  }

  /** Takes the next received message, returning its flow-control credit to the peer. */
  read(): Uint8Array | undefined {
    if (this.inboxHead === this.inbox.length) return undefined;
    const message = this.inbox[this.inboxHead]!;
    if (this.compressedIn !== undefined) this.lastReadCompressed = this.compressedIn.has(message);
    this.inbox[this.inboxHead++] = EMPTY;
    if (this.inboxHead === this.inbox.length) {
      this.inbox.length = 0;
      this.inboxHead = 0;
    }
    this._queuedBytes -= message.length + MESSAGE_PREFIX_SIZE;
    if (this.accounted) {
      this.host.budget.hold("queuedMessages", -1);
      this.host.budget.hold("heldBytes", -(message.length + MESSAGE_PREFIX_SIZE + MESSAGE_OVERHEAD));
      this.updateHeld();
    }
    this.returnCredit();
    return message;
  }

  /** @internal Server: the request HEADERS opened this stream. */
  opened(endStream: boolean): void {
    this.headersReceived = true;
    if (endStream) this.remoteEnd();
  }

  /** @internal Client: the response HEADERS arrived (the session read them). */
  receiveHeaders(endStream: boolean): boolean {
    if (this.headersReceived) return this.fail(ErrorCode.PROTOCOL_ERROR, "second HEADERS frame on a stream");
    if (endStream) return this.fail(ErrorCode.PROTOCOL_ERROR, "response HEADERS must not carry END_STREAM");
    this.headersReceived = true;
    return true;
  }

  /** @internal A DATA frame for this stream (the session counted it against the connection window). */
  receiveData(payload: Uint8Array, endStream: boolean): void {
    if (this._state !== "open" && this._state !== "half-closed")
      return void this.fail(ErrorCode.STREAM_CLOSED, "DATA after END_STREAM");
    if (!this.headersReceived) return void this.fail(ErrorCode.PROTOCOL_ERROR, "DATA before response HEADERS");
    const length = payload.length;
    if (length > this.recvWindow) {
      return void this.fail(
        ErrorCode.FLOW_CONTROL_ERROR,
        `DATA of ${length} bytes exceeds the stream window of ${this.recvWindow}`,
      );
    }
    this.recvWindow -= length;
    this.unreturned += length;
    const before = this.inbox.length;
    const reserved = this.reader.reserved;
    try {
      if (length > 0) this.reader.push(payload, this.deliver);
    } catch (error) {
      if (error instanceof MessageError) return this.messageError(error);
      throw error;
    }
    // The reassembly buffer grows with the bytes received; it is held memory too.
    if (this.reader.reserved !== reserved) this.host.budget.hold("heldBytes", this.reader.reserved - reserved);
    if (endStream) {
      this.remoteEnd();
      if (this.reader.partial > 0) {
        return this.messageError(
          new MessageError(
            Status.INTERNAL,
            `stream ended inside a message (${this.reader.partial} bytes of it received)`,
          ),
        );
      }
    }
    if (this.inbox.length > before || endStream) this.events.onReadable?.();
    // A message larger than half the window may be partly buffered: keep credit flowing for it.
    this.returnCredit();
  }

  /** @internal Client: TRAILERS closed the stream. */
  receiveTrailers(trailers: Metadata): void {
    this.close();
    if (this.reader.partial > 0) {
      this.events.onReset?.(
        ErrorCode.PROTOCOL_ERROR,
        new MessageError(Status.INTERNAL, "trailers arrived inside a message"),
      );
      return;
    }
    this.events.onTrailers?.(trailers);
  }

  /** @internal The peer sent RST_STREAM. */
  receiveReset(code: number): void {
    this.abort(
      code,
      new ProtocolError(code as ErrorCode, `stream reset by peer (${ErrorCodeName[code] ?? code})`, this.id),
    );
  }

  /** @internal WINDOW_UPDATE for this stream. */
  receiveWindowUpdate(increment: number): void {
    this.sendWindow += increment;
    if (this.sendWindow > MAX_WINDOW_SIZE)
      return void this.fail(ErrorCode.FLOW_CONTROL_ERROR, "stream window above 2^31-1");
    this.schedule();
  }

  /** @internal Closes the stream without a frame (session closed, GOAWAY refused it) and tells the owner. */
  abort(code: number, error: Error): void {
    if (this._state === "closed") return;
    this.close();
    this.events.onReset?.(code, error);
  }

  /** @internal A metadata block over this side's limit: the call fails with RESOURCE_EXHAUSTED. */
  tooLarge(message: string): void {
    this.messageError(new MessageError(Status.RESOURCE_EXHAUSTED, message));
  }

  /** A message this side cannot take: a server answers with its status, a client cancels. */
  private messageError(error: MessageError): void {
    if (this.host.role === "server") {
      const trailers = createTrailers(error.status, error.message);
      this.trailersNow(trailers, metadataSize(trailers));
    } else this.reset(ErrorCode.CANCEL);
    this.events.onReset?.(ErrorCode.CANCEL, error);
    // The peer made this side end the stream: a reset it caused ("MadeYouReset", CVE-2025-8671).
    this.host.budget.charge("resets");
  }

  /** A stream error: RST_STREAM `code` to the peer, onReset to the owner. Returns false. */
  private fail(code: number, message: string): false {
    this.reset(code);
    this.events.onReset?.(code, new ProtocolError(code as ErrorCode, message, this.id));
    this.host.budget.charge("resets");
    return false;
  }

  // Connection credit waits for this stream's queued bytes, up to a quarter of the connection window.
  private updateHeld(): void {
    const held = Math.min(this._queuedBytes, this.host.streamHoldLimit);
    if (held === this.connHeld) return;
    const delta = held - this.connHeld;
    this.connHeld = held;
    this.host.held(delta);
  }

  private returnCredit(): void {
    const half = this.host.localStreamWindow >>> 1;
    if (this.unreturned < half || this._queuedBytes > half || (this._state !== "open" && this._state !== "half-closed"))
      return;
    this.host.writer.windowUpdate(this.id, this.unreturned);
    this.recvWindow += this.unreturned;
    this.unreturned = 0;
  }

  // Received messages that had the compressed flag; allocated by the first one.
  private compressedIn: WeakSet<Uint8Array> | undefined;

  // Bound once per stream: passed to `MessageReader.push` for every DATA frame.
  private readonly deliver = (message: Uint8Array, compressed: boolean): void => {
    if (compressed) (this.compressedIn ??= new WeakSet()).add(message);
    this.inbox.push(message);
    this._queuedBytes += message.length + MESSAGE_PREFIX_SIZE;
    const budget = this.host.budget;
    budget.hold("queuedMessages", 1);
    budget.hold("heldBytes", message.length + MESSAGE_PREFIX_SIZE + MESSAGE_OVERHEAD);
    this.updateHeld();
  };

  // --- state ------------------------------------------------------------------------------

  private localEnd(): void {
    this.setState(this._state === "remote-ended" ? "ended" : "half-closed");
  }

  private remoteEnd(): void {
    this.setState(this._state === "half-closed" ? "ended" : "remote-ended");
  }

  private close(): void {
    if (this._state === "closed") return;
    this.release();
    this.out.clear();
    this.setState("closed");
    this.host.streamClosed(this);
  }

  // A closed stream charges nothing: messages still queued stay readable, but are no longer counted.
  private release(): void {
    if (!this.accounted) return;
    this.accounted = false;
    const budget = this.host.budget;
    budget.hold("queuedMessages", -this.readableLength);
    budget.hold("heldBytes", -(this._queuedBytes + this.readableLength * MESSAGE_OVERHEAD + this.reader.reserved));
    if (this.connHeld !== 0) this.host.held(-this.connHeld);
    this.connHeld = 0;
  }

  private setState(to: StreamState): void {
    const from = this._state;
    if (from === to || from === "closed") return;
    this._state = to;
    this.host.trace?.(`stream ${this.id} ${from} -> ${to}`);
  }
}

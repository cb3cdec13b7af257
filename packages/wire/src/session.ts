import { CloseCode, ErrorCode, ErrorCodeName, Flags, FrameType, MAX_STREAM_ID, MAX_WINDOW_SIZE } from "./constants.js";
import { ProtocolError } from "./errors.js";
import { FrameReader } from "./frame-reader.js";
import { FrameWriter, type FrameWriterOptions } from "./frame-writer.js";
import { MESSAGE_PREFIX_SIZE, MessageError } from "./message.js";
import { PATH, metadataSize, readMetadata, writeMetadataFrame, type Metadata } from "./metadata.js";
import { MIN_FRAME_SIZE, readSettings, resolveSettings, writeSettings, type Settings } from "./settings.js";
import { Status } from "./status.js";
import { Stream, type StreamEvents } from "./stream.js";
import { unref } from "./timers.js";
import { createTrailers } from "./trailers.js";

/** The WebSocket as a session sees it. */
export interface SessionSocket {
  /**
   * Sends one binary message. Return false when the socket is saturated; then call
   * `session.drained()` later. Call `release()` once the socket no longer reads `message` (it is
   * written out); the session then reuses that memory. A socket that copies may ignore it.
   */
  send(message: Uint8Array, release: () => void): boolean | void;
  close(code: number, reason: string): void;
}

export interface KeepaliveOptions {
  /** Send a PING after this long without receiving anything. 0 disables keepalive. */
  intervalMs: number;
  /** Declare the connection dead when the PING ack has not come back after this long. */
  timeoutMs: number;
}

/** Keepalive both sides use unless told otherwise: a PING after 30 s of silence, 10 s for its ack. */
export const DEFAULT_KEEPALIVE: Readonly<KeepaliveOptions> = Object.freeze({ intervalMs: 30_000, timeoutMs: 10_000 });

export interface SessionOptions {
  role: "client" | "server";
  /** This side's settings, sent to the peer first thing. */
  settings?: Partial<Settings>;
  writer?: FrameWriterOptions;
  keepalive?: KeepaliveOptions;
  /** Queued outbound bytes per stream before `write()` returns false. Default 64 KiB. */
  writeHighWaterMark?: number;
  /** Server: a peer opened a stream; set `stream.events` before returning. */
  onStream?(stream: Stream, path: string, headers: Metadata, endStream: boolean): void;
  /** The peer's SETTINGS arrived: a client may open streams from now on. */
  onSettings?(settings: Settings): void;
  /** The peer is going away: streams above `lastStreamId` were reset as refused. */
  onGoAway?(lastStreamId: number, code: number, debug: string): void;
  /** The session ended; every open stream was reset first. */
  onClose?(error: SessionClosedError): void;
}

/** Why a session ended: `code` is the wire error code, `remote` whether the peer said so. */
export class SessionClosedError extends Error {
  override readonly name = "SessionClosedError";
  constructor(
    message: string,
    readonly code: number = ErrorCode.NO_ERROR,
    readonly remote = false,
  ) {
    super(message);
  }
}

const decoder = new TextDecoder();

/** RST_STREAM frames of open streams a client may send in a burst, and per second after it, before the server closes the connection. */
export const RESET_BURST = 1000;
export const RESET_RATE_PER_S = 100;

/**
 * One grpc-ws connection: settings exchange, stream table, flow control in both directions,
 * keepalive and goaway. Client and server share it; only who opens streams differs.
 * Feed every received WebSocket message to `receive()`.
 */
export class Session {
  readonly local: Settings;
  /** The peer's settings, once its SETTINGS frame arrived. */
  peer: Settings | undefined;
  readonly role: "client" | "server";
  readonly writeHighWaterMark: number;
  readonly streams = new Map<number, Stream>();
  closed = false;
  /** GOAWAY was sent or received: no new streams. */
  draining = false;

  private readonly writer: FrameWriter;
  private readonly reader: FrameReader;
  private nextStreamId = 1;
  private lastPeerStreamId = 0;
  private connSendWindow = 0;
  private connUnreturned = 0;
  private readonly readyStreams: Stream[] = [];
  private socketBlocked = false;
  private pumping = false;
  private idleWaiters: Array<() => void> = [];
  private keepaliveTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setTimeout> | undefined;
  private lastReceive = 0;
  private pingOutstanding = false;
  private resetTokens = RESET_BURST;
  private resetRefilledAt = Date.now();

  constructor(
    private readonly socket: SessionSocket,
    private readonly options: SessionOptions,
  ) {
    this.role = options.role;
    this.local = resolveSettings(options.settings);
    this.writeHighWaterMark = options.writeHighWaterMark ?? 64 * 1024;
    this.reader = new FrameReader(this.local.maxFrameSize);
    this.writer = new FrameWriter((message, release) => this.sinkMessage(message, release), options.writer);
    writeSettings(this.writer, this.local);
    this.lastReceive = Date.now();
    const keepalive = options.keepalive;
    if (keepalive && keepalive.intervalMs > 0) this.armKeepalive(keepalive);
  }

  /** Streams open right now. */
  get activeStreams(): number {
    return this.streams.size;
  }

  /** Client: true when a stream may be opened now (settings known, below the peer's limit, not draining). */
  get canOpenStream(): boolean {
    return (
      !this.closed &&
      !this.draining &&
      this.peer !== undefined &&
      this.streams.size < this.peer.maxConcurrentStreams &&
      this.nextStreamId <= MAX_STREAM_ID
    );
  }

  /** Client: opens a stream and sends its request HEADERS. Check `canOpenStream` first. */
  openStream(path: string, headers: Metadata, events: StreamEvents = {}, endStream = false): Stream {
    if (this.role !== "client") throw new Error("only a client opens streams");
    if (!this.canOpenStream || !this.peer) throw new Error("cannot open a stream now: check canOpenStream");
    const stream = new Stream(this.nextStreamId, this, this.peer.initialStreamWindow, this.local.initialStreamWindow, this.local.maxMessageSize);
    stream.events = events;
    // Throws TypeError for metadata that cannot be sent, before the stream takes an id or a slot.
    this.sendHeaders(stream, [[PATH, path], ...headers], endStream);
    this.nextStreamId += 2;
    this.streams.set(stream.id, stream);
    return stream;
  }

  /** Feeds one received WebSocket message. Never throws: a protocol violation closes the session. */
  receive(message: Uint8Array): void {
    if (this.closed) return;
    this.lastReceive = Date.now();
    const r = this.reader.reset(message);
    try {
      while (r.next()) this.onFrame(r);
    } catch (error) {
      // Anything but a ProtocolError is a bug on this side (e.g. a throwing callback), not the peer's fault.
      if (error instanceof ProtocolError) this.fail(error);
      else this.fail(new ProtocolError(ErrorCode.INTERNAL_ERROR, error instanceof Error ? error.message : String(error)), CloseCode.INTERNAL_ERROR);
    }
  }

  /** A text WebSocket message arrived: a connection error (close 1003). */
  receiveText(): void {
    this.fail(new ProtocolError(ErrorCode.PROTOCOL_ERROR, "text WebSocket message: grpc-ws carries binary messages only"), CloseCode.UNSUPPORTED_DATA);
  }

  /** The socket can take more after `send` returned false. */
  drained(): void {
    this.socketBlocked = false;
    this.pump();
  }

  /** Sends GOAWAY: the peer opens no more streams; streams already open finish. */
  goAway(code: number = ErrorCode.NO_ERROR, debug = ""): void {
    if (this.closed) return;
    this.draining = true;
    this.writer.goAway(this.lastPeerStreamId, code, truncateUtf8(debug, MAX_GOAWAY_DEBUG));
  }

  /** Resolves when no stream is open (immediately if none is). */
  whenIdle(): Promise<void> {
    if (this.streams.size === 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Ends the session: every open stream is reset with `error`, the socket is closed with
   * `closeCode` (unless `closeCode` is 0: the socket is already gone).
   */
  close(error: SessionClosedError, closeCode: number = CloseCode.NORMAL): void {
    if (this.closed) return;
    this.writer.flush();
    this.closed = true;
    this.draining = true;
    clearTimeout(this.keepaliveTimer);
    clearTimeout(this.pingTimer);
    const streams = [...this.streams.values()];
    this.streams.clear();
    for (const stream of streams) {
      stream.closed = true;
      stream.events.onReset?.(ErrorCode.CANCEL, error);
    }
    this.resolveIdle();
    if (closeCode !== 0) this.socket.close(closeCode, truncateReason(error.message));
    this.options.onClose?.(error);
  }

  // --- outbound -------------------------------------------------------------------------

  /** @internal */
  sendHeaders(stream: Stream, headers: Metadata, endStream: boolean): void {
    if (stream.closed || this.closed) return;
    this.checkMetadataFits(headers, "headers");
    writeMetadataFrame(this.writer, FrameType.HEADERS, stream.id, headers, endStream);
    if (endStream) stream.localEnded = true;
  }

  /** @internal */
  write(stream: Stream, message: Uint8Array): boolean {
    if (stream.closed || stream.endQueued || stream.trailersQueued) return false;
    stream.queue.push(message);
    stream.pendingBytes += message.length + MESSAGE_PREFIX_SIZE;
    this.markReady(stream);
    this.pump();
    return stream.writable;
  }

  /** @internal */
  end(stream: Stream, lastMessage?: Uint8Array): void {
    if (stream.closed || stream.endQueued || stream.localEnded || stream.trailersQueued) return;
    stream.endQueued = true;
    if (lastMessage) {
      // Queued together, so END_STREAM rides on the message's last DATA frame.
      stream.queue.push(lastMessage);
      stream.pendingBytes += lastMessage.length + MESSAGE_PREFIX_SIZE;
      this.markReady(stream);
      this.pump();
    } else if (stream.pendingBytes === 0) {
      this.writer.begin(FrameType.DATA, Flags.END_STREAM, stream.id, 0);
      stream.localEnded = true;
    }
  }

  /** @internal */
  sendTrailers(stream: Stream, trailers: Metadata, discardQueued = false): void {
    if (stream.closed || stream.trailersQueued) return;
    // Checked now: trailers written later from pump() must not throw there.
    this.checkMetadataFits(trailers, "trailers");
    if (discardQueued) return this.trailersNow(stream, trailers);
    stream.trailersQueued = trailers;
    if (stream.pendingBytes === 0) this.finishWithTrailers(stream);
  }

  /** @internal */
  reset(stream: Stream, code: number): void {
    if (stream.closed) return;
    this.writer.rstStream(stream.id, code);
    this.closeStream(stream);
  }

  /** @internal Returns stream credit once the owner has read enough to make it worth a frame. */
  returnStreamCredit(stream: Stream): void {
    const half = this.local.initialStreamWindow >>> 1;
    if (stream.closed || stream.remoteEnded || stream.unreturned < half || stream.queuedBytes > half) return;
    this.writer.windowUpdate(stream.id, stream.unreturned);
    stream.recvWindow += stream.unreturned;
    stream.unreturned = 0;
  }

  // HEADERS and TRAILERS are single frames: a block over the peer's MAX_FRAME_SIZE would be a connection error there.
  private checkMetadataFits(metadata: Metadata, what: string): void {
    const size = metadataSize(metadata);
    const limit = this.peer?.maxFrameSize ?? MIN_FRAME_SIZE;
    if (size > limit) throw new RangeError(`${what} of ${size} bytes exceed the peer's max frame size of ${limit} bytes`);
  }

  // Ends the stream with `trailers` at once, dropping queued messages. When half a message already
  // went out, trailers would corrupt it: the stream is reset instead.
  private trailersNow(stream: Stream, trailers: Metadata): void {
    if (stream.head !== -MESSAGE_PREFIX_SIZE) return this.reset(stream, ErrorCode.CANCEL);
    stream.queue.length = 0;
    stream.pendingBytes = 0;
    stream.trailersQueued = trailers;
    this.finishWithTrailers(stream);
  }

  private finishWithTrailers(stream: Stream): void {
    writeMetadataFrame(this.writer, FrameType.TRAILERS, stream.id, stream.trailersQueued!);
    stream.localEnded = true;
    this.closeStream(stream);
  }

  private markReady(stream: Stream): void {
    if (!stream.ready && stream.pendingBytes > 0 && stream.sendWindow > 0) {
      stream.ready = true;
      this.readyStreams.push(stream);
    }
  }

  // Frames queued messages, one frame per stream in turn, while both windows and the socket allow.
  private pump(): void {
    if (this.pumping || this.closed || !this.peer) return;
    this.pumping = true;
    const maxFrame = this.peer.maxFrameSize;
    const batchLimit = 4 * this.writeHighWaterMark;
    try {
      while (this.readyStreams.length > 0 && this.connSendWindow > 0 && !this.socketBlocked && this.writer.pending < batchLimit) {
        const stream = this.readyStreams.shift()!;
        stream.ready = false;
        if (stream.closed) continue;
        const wasWritable = stream.writable;
        this.frameData(stream, Math.min(maxFrame, stream.sendWindow, this.connSendWindow, stream.pendingBytes));
        if (stream.pendingBytes === 0) {
          if (stream.trailersQueued) this.finishWithTrailers(stream);
          else if (stream.endQueued) stream.localEnded = true;
        } else {
          this.markReady(stream);
        }
        if (!wasWritable && stream.writable && !stream.closed) stream.events.onWritable?.();
      }
    } finally {
      this.pumping = false;
    }
  }

  private frameData(stream: Stream, length: number): void {
    const last = length === stream.pendingBytes;
    const flags = last && stream.endQueued && !stream.trailersQueued ? Flags.END_STREAM : 0;
    let o = this.writer.begin(FrameType.DATA, flags, stream.id, length);
    const buf = this.writer.buf;
    let left = length;
    while (left > 0) {
      const message = stream.queue[0]!;
      if (stream.head < 0) {
        // Prefix bytes: flags 0, then the u32 length; `head` runs -5..-1.
        const size = message.length;
        while (stream.head < 0 && left > 0) {
          const i = stream.head + MESSAGE_PREFIX_SIZE;
          buf[o++] = i === 0 ? 0 : (size >>> (8 * (4 - i))) & 0xff;
          stream.head++;
          left--;
        }
      }
      const take = Math.min(message.length - stream.head, left);
      if (take > 0) {
        buf.set(take === message.length ? message : message.subarray(stream.head, stream.head + take), o);
        o += take;
        stream.head += take;
        left -= take;
      }
      if (stream.head === message.length) {
        stream.queue.shift();
        stream.head = -MESSAGE_PREFIX_SIZE;
      }
    }
    stream.pendingBytes -= length;
    stream.sendWindow -= length;
    this.connSendWindow -= length;
  }

  private sinkMessage(message: Uint8Array, release: () => void): void {
    if (this.closed) return;
    if (this.socket.send(message, release) === false) this.socketBlocked = true;
    else if (this.readyStreams.length > 0) this.pump();
  }

  // --- inbound --------------------------------------------------------------------------

  private onFrame(r: FrameReader): void {
    if (!this.peer && r.type !== FrameType.SETTINGS) {
      throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, "the first frame must be SETTINGS");
    }
    switch (r.type) {
      case FrameType.SETTINGS:
        return this.onSettings(r);
      case FrameType.HEADERS:
        return this.onHeaders(r);
      case FrameType.DATA:
        return this.onData(r);
      case FrameType.TRAILERS:
        return this.onTrailers(r);
      case FrameType.RST_STREAM:
        return this.onReset(r.streamId, r.u32(0));
      case FrameType.WINDOW_UPDATE:
        return this.onWindowUpdate(r.streamId, r.u32(0));
      case FrameType.PING:
        if (r.flags & Flags.ACK) {
          this.pingOutstanding = false;
          clearTimeout(this.pingTimer);
        } else {
          this.writer.ping(r.payload, true);
        }
        return;
      case FrameType.GOAWAY:
        return this.onGoAway(r.u32(0) & MAX_STREAM_ID, r.u32(4), decoder.decode(r.bytes.subarray(r.offset + 8, r.offset + r.length)));
    }
  }

  private onSettings(r: FrameReader): void {
    if (this.peer) throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, "SETTINGS may be sent only once");
    this.peer = readSettings(r.bytes, r.offset, r.length);
    this.connSendWindow = this.peer.initialConnectionWindow;
    this.options.onSettings?.(this.peer);
  }

  private onHeaders(r: FrameReader): void {
    const id = r.streamId;
    const endStream = (r.flags & Flags.END_STREAM) !== 0;
    if (this.role === "client") {
      const stream = this.streams.get(id);
      if (!stream) return this.checkKnown(id);
      if (stream.headersReceived) return this.streamError(stream, ErrorCode.PROTOCOL_ERROR, "second HEADERS frame on a stream");
      if (endStream) return this.streamError(stream, ErrorCode.PROTOCOL_ERROR, "response HEADERS must not carry END_STREAM");
      if (r.length > this.local.maxMetadataSize) return this.tooLarge(stream, `response headers of ${r.length} bytes exceed the limit of ${this.local.maxMetadataSize}`);
      stream.headersReceived = true;
      stream.events.onHeaders?.(readMetadata(r.bytes, r.offset, r.length, Infinity, id));
      return;
    }
    if (id % 2 === 0 || id <= this.lastPeerStreamId) {
      throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, `HEADERS opening stream ${id}: client stream ids must be odd and increasing (last was ${this.lastPeerStreamId})`);
    }
    this.lastPeerStreamId = id;
    if (this.draining || this.streams.size >= this.local.maxConcurrentStreams) {
      this.writer.rstStream(id, ErrorCode.REFUSED_STREAM);
      return;
    }
    const stream = new Stream(id, this, this.peer!.initialStreamWindow, this.local.initialStreamWindow, this.local.maxMessageSize);
    stream.headersReceived = true;
    stream.remoteEnded = endStream;
    this.streams.set(id, stream);
    if (r.length > this.local.maxMetadataSize) {
      return this.tooLarge(stream, `request headers of ${r.length} bytes exceed the limit of ${this.local.maxMetadataSize}`);
    }
    const headers = readMetadata(r.bytes, r.offset, r.length, Infinity, id);
    const first = headers[0];
    if (!first || first[0] !== PATH || typeof first[1] !== "string" || !first[1].startsWith("/")) {
      return this.streamError(stream, ErrorCode.PROTOCOL_ERROR, "request HEADERS must start with :path");
    }
    headers.shift();
    this.options.onStream?.(stream, first[1], headers, endStream);
  }

  private onData(r: FrameReader): void {
    const length = r.length;
    if (length > 0) {
      if (length > this.local.initialConnectionWindow - this.connUnreturned) {
        throw new ProtocolError(ErrorCode.FLOW_CONTROL_ERROR, `DATA of ${length} bytes exceeds the connection window of ${this.local.initialConnectionWindow - this.connUnreturned}`);
      }
      // Connection credit comes back on receipt: per-stream windows bound what each stream buffers.
      this.connUnreturned += length;
      if (this.connUnreturned >= this.local.initialConnectionWindow >>> 1) {
        this.writer.windowUpdate(0, this.connUnreturned);
        this.connUnreturned = 0;
      }
    }
    const stream = this.streams.get(r.streamId);
    if (!stream) return this.checkKnown(r.streamId);
    if (stream.remoteEnded) return this.streamError(stream, ErrorCode.STREAM_CLOSED, "DATA after END_STREAM");
    if (!stream.headersReceived) return this.streamError(stream, ErrorCode.PROTOCOL_ERROR, "DATA before response HEADERS");
    if (length > stream.recvWindow) {
      return this.streamError(stream, ErrorCode.FLOW_CONTROL_ERROR, `DATA of ${length} bytes exceeds the stream window of ${stream.recvWindow}`);
    }
    stream.recvWindow -= length;
    stream.unreturned += length;
    const before = stream.readableLength;
    try {
      if (length > 0) stream.reader.push(r.payload, stream.deliver);
    } catch (error) {
      if (error instanceof MessageError) return this.messageError(stream, error);
      throw error;
    }
    if (r.flags & Flags.END_STREAM) {
      stream.remoteEnded = true;
      if (stream.reader.partial > 0) {
        return this.messageError(stream, new MessageError(Status.INTERNAL, `stream ended inside a message (${stream.reader.partial} bytes of it received)`));
      }
    }
    if (stream.readableLength > before || stream.remoteEnded) stream.events.onReadable?.();
    // A message larger than half the window may be partly buffered: keep credit flowing for it.
    this.returnStreamCredit(stream);
  }

  private onTrailers(r: FrameReader): void {
    if (this.role === "server") throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, "a client must not send TRAILERS");
    const stream = this.streams.get(r.streamId);
    if (!stream) return this.checkKnown(r.streamId);
    if (r.length > this.local.maxMetadataSize) return this.tooLarge(stream, `trailers of ${r.length} bytes exceed the limit of ${this.local.maxMetadataSize}`);
    const trailers = readMetadata(r.bytes, r.offset, r.length, Infinity, r.streamId);
    stream.remoteEnded = true;
    this.closeStream(stream);
    if (stream.reader.partial > 0) {
      stream.events.onReset?.(ErrorCode.PROTOCOL_ERROR, new MessageError(Status.INTERNAL, "trailers arrived inside a message"));
      return;
    }
    stream.events.onTrailers?.(trailers);
  }

  private onReset(id: number, code: number): void {
    const stream = this.streams.get(id);
    if (!stream) return this.checkKnown(id);
    // Only a reset that cuts short a call the server is running costs it work.
    if (this.role === "server") this.chargeReset();
    this.closeStream(stream);
    stream.events.onReset?.(code, new ProtocolError(code as ErrorCode, `stream reset by peer (${ErrorCodeName[code] ?? code})`, id));
  }

  private onWindowUpdate(id: number, increment: number): void {
    if (id === 0) {
      this.connSendWindow += increment;
      if (this.connSendWindow > MAX_WINDOW_SIZE) throw new ProtocolError(ErrorCode.FLOW_CONTROL_ERROR, "connection window above 2^31-1");
      for (const stream of this.streams.values()) this.markReady(stream);
    } else {
      const stream = this.streams.get(id);
      if (!stream) return this.checkKnown(id);
      stream.sendWindow += increment;
      if (stream.sendWindow > MAX_WINDOW_SIZE) return this.streamError(stream, ErrorCode.FLOW_CONTROL_ERROR, "stream window above 2^31-1");
      this.markReady(stream);
    }
    this.pump();
  }

  private onGoAway(lastStreamId: number, code: number, debug: string): void {
    this.draining = true;
    if (this.role === "client") {
      for (const stream of [...this.streams.values()]) {
        if (stream.id > lastStreamId) {
          this.closeStream(stream);
          stream.events.onReset?.(ErrorCode.REFUSED_STREAM, new ProtocolError(ErrorCode.REFUSED_STREAM, `server is going away${debug ? `: ${debug}` : ""}`, stream.id));
        }
      }
    }
    this.options.onGoAway?.(lastStreamId, code, debug);
    if (code !== ErrorCode.NO_ERROR) {
      this.close(new SessionClosedError(`peer sent GOAWAY ${ErrorCodeName[code] ?? code}${debug ? `: ${debug}` : ""}`, code, true), CloseCode.NORMAL);
    }
  }

  // Opening and at once resetting streams costs the receiver work that MAX_CONCURRENT_STREAMS
  // never limits ("rapid reset", CVE-2023-44487): a token bucket caps the rate of resets received.
  private chargeReset(): void {
    const now = Date.now();
    this.resetTokens = Math.min(RESET_BURST, this.resetTokens + ((now - this.resetRefilledAt) * RESET_RATE_PER_S) / 1000);
    this.resetRefilledAt = now;
    if (this.resetTokens < 1) {
      throw new ProtocolError(ErrorCode.ENHANCE_YOUR_CALM, `more than ${RESET_BURST} RST_STREAM frames at over ${RESET_RATE_PER_S} per second`);
    }
    this.resetTokens -= 1;
  }

  // A frame for a stream we do not have: fine if it was closed recently, an error if never opened.
  private checkKnown(id: number): void {
    const opened = this.role === "client" ? id < this.nextStreamId && id % 2 === 1 : id <= this.lastPeerStreamId;
    if (!opened) throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, `frame for stream ${id}, which was never opened`);
  }

  private streamError(stream: Stream, code: number, message: string): void {
    this.reset(stream, code);
    stream.events.onReset?.(code, new ProtocolError(code as ErrorCode, message, stream.id));
  }

  private tooLarge(stream: Stream, message: string): void {
    this.messageError(stream, new MessageError(Status.RESOURCE_EXHAUSTED, message));
  }

  // A message this side cannot take: a server answers with its status, a client cancels.
  private messageError(stream: Stream, error: MessageError): void {
    if (this.role === "server") this.trailersNow(stream, createTrailers(error.status, error.message));
    else this.reset(stream, ErrorCode.CANCEL);
    stream.events.onReset?.(ErrorCode.CANCEL, error);
  }

  private closeStream(stream: Stream): void {
    stream.closed = true;
    stream.queue.length = 0;
    stream.pendingBytes = 0;
    this.streams.delete(stream.id);
    if (this.streams.size === 0) this.resolveIdle();
  }

  private resolveIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private fail(error: ProtocolError, closeCode: number = CloseCode.PROTOCOL_ERROR): void {
    if (this.closed) return;
    this.writer.goAway(this.lastPeerStreamId, error.code, truncateUtf8(error.message, MAX_GOAWAY_DEBUG));
    this.close(new SessionClosedError(`protocol error: ${error.message}`, error.code), closeCode);
  }

  private armKeepalive(keepalive: KeepaliveOptions): void {
    const tick = () => {
      if (this.closed) return;
      const idle = Date.now() - this.lastReceive;
      if (idle >= keepalive.intervalMs && !this.pingOutstanding) {
        this.pingOutstanding = true;
        this.writer.ping(new Uint8Array(8), false);
        this.pingTimer = setTimeout(() => {
          if (this.pingOutstanding) {
            this.close(new SessionClosedError(`keepalive timeout: no PING ack within ${keepalive.timeoutMs} ms`, ErrorCode.CANCEL), CloseCode.GOING_AWAY);
          }
        }, keepalive.timeoutMs);
        unref(this.pingTimer);
      }
      this.keepaliveTimer = setTimeout(tick, Math.max(10, keepalive.intervalMs - Math.min(idle, keepalive.intervalMs)));
      unref(this.keepaliveTimer);
    };
    this.keepaliveTimer = setTimeout(tick, keepalive.intervalMs);
    unref(this.keepaliveTimer);
  }
}


// WebSocket close reasons are limited to 123 bytes of UTF-8.
function truncateReason(reason: string): string {
  return truncateUtf8(reason, 123);
}

// GOAWAY debug text stays far below the smallest MAX_FRAME_SIZE a peer may advertise.
const MAX_GOAWAY_DEBUG = 256;

function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length <= maxBytes) return text;
  return decoder.decode(bytes.subarray(0, maxBytes - 3)).replace(/\uFFFD$/, "") + "...";
}

import { CloseCode, ErrorCode, ErrorCodeName, Flags, FrameType, MAX_STREAM_ID, MAX_WINDOW_SIZE } from "./constants.js";
import { ProtocolError, SessionClosedError, truncateUtf8 } from "./errors.js";
import { FrameReader } from "./frame-reader.js";
import { FrameWriter, type FrameWriterOptions } from "./frame-writer.js";
import { Keepalive, type KeepaliveOptions } from "./keepalive.js";
import { PATH, readMetadata, type Metadata } from "./metadata.js";
import { ConnectionBudget, type Budgets } from "./budget.js";
import { MIN_FRAME_SIZE, readSettings, resolveSettings, writeSettings, type Settings } from "./settings.js";
import { Stream, type StreamEvents, type StreamHost } from "./stream.js";
import { describeFrame, traceMessage, type TraceSink } from "./trace.js";

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
  /** Trace hook: one line per frame in (`<`) and out (`>`) and per stream state change. */
  trace?: TraceSink;
  /** What the peer may make this side spend (docs/SECURITY.md); defaults in `DEFAULT_BUDGETS`. */
  budgets?: Partial<Budgets>;
}

// WebSocket close reasons are limited to 123 bytes of UTF-8; GOAWAY debug text stays far below
// the smallest MAX_FRAME_SIZE a peer may advertise.
const MAX_CLOSE_REASON = 123;
const MAX_GOAWAY_DEBUG = 256;
const decoder = new TextDecoder();

/**
 * One grpc-ws connection: settings exchange, the stream table, the connection windows, the
 * ready ring of streams with DATA to send, and the socket. Client and server share it; only who
 * opens streams differs. Feed every received WebSocket message to `receive()`.
 */
export class Session {
  readonly local: Settings;
  readonly role: "client" | "server";
  readonly writeHighWaterMark: number;

  private _peer: Settings | undefined;
  private _closed = false;
  private _draining = false;
  private readonly streams = new Map<number, Stream>();
  private readonly writer: FrameWriter;
  private readonly reader: FrameReader;
  private readonly host: StreamHost;
  private readonly trace: TraceSink | undefined;
  private readonly keepalive: Keepalive | undefined;
  /** The cost model: everything the peer makes this side spend is charged here. */
  readonly budget: ConnectionBudget;
  // Bytes of complete messages streams hold for the application, each stream counted up to a
  // quarter of the connection window: connection credit for them waits until they are read (PROTOCOL.md 5.2).
  private connHeld = 0;
  private receiving = false;
  private nextStreamId = 1;
  private lastPeerStreamId = 0;
  private connSendWindow = 0;
  private connUnreturned = 0;
  // Streams with DATA and stream window, framed one frame each in turn.
  private readonly ready: Stream[] = [];
  private socketBlocked = false;
  private pumping = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly socket: SessionSocket,
    private readonly options: SessionOptions,
  ) {
    this.role = options.role;
    this.local = resolveSettings(options.settings);
    this.writeHighWaterMark = options.writeHighWaterMark ?? 64 * 1024;
    this.trace = options.trace;
    this.budget = new ConnectionBudget(options.budgets);
    this.reader = new FrameReader(this.local.maxFrameSize);
    this.writer = new FrameWriter((message, release) => this.sinkMessage(message, release), options.writer);
    const session = this;
    this.host = {
      role: this.role,
      writer: this.writer,
      writeHighWaterMark: this.writeHighWaterMark,
      localStreamWindow: this.local.initialStreamWindow,
      get peerMaxFrameSize() {
        return session._peer?.maxFrameSize ?? MIN_FRAME_SIZE;
      },
      schedule: (stream) => {
        this.ready.push(stream);
        this.pump();
      },
      streamClosed: (stream) => {
        this.streams.delete(stream.id);
        if (this.streams.size === 0) this.resolveIdle();
      },
      budget: this.budget,
      streamHoldLimit: this.local.initialConnectionWindow >>> 2,
      held: (delta) => {
        this.connHeld += delta;
        if (delta < 0) this.returnConnectionCredit();
      },
      trace: this.trace,
    };
    writeSettings(this.writer, this.local);
    const keepalive = options.keepalive;
    if (keepalive && keepalive.intervalMs > 0) {
      this.keepalive = new Keepalive(
        keepalive,
        () => this.writer.ping(new Uint8Array(8), false),
        (message) => this.close(new SessionClosedError(message, ErrorCode.CANCEL), CloseCode.GOING_AWAY),
        () => this.trimWhenIdle(),
      );
    }
  }

  /** The peer's settings, once its SETTINGS frame arrived. */
  get peer(): Settings | undefined {
    return this._peer;
  }

  get closed(): boolean {
    return this._closed;
  }

  /** GOAWAY was sent or received: no new streams. */
  get draining(): boolean {
    return this._draining;
  }

  /** Streams open right now. */
  get activeStreams(): number {
    return this.streams.size;
  }

  /** Bytes of framing buffer the session holds: 0 before the first write, 4 KiB when idle, more when busy. */
  get bufferBytes(): number {
    return this.writer.capacity;
  }

  /** The open stream with this id, if any. */
  stream(id: number): Stream | undefined {
    return this.streams.get(id);
  }

  /** Client: why no stream can be opened now, or undefined when one can. */
  whyCannotOpen(): "closed" | "draining" | "no-settings" | "stream-limit" | "ids-exhausted" | undefined {
    if (this._closed) return "closed";
    if (this._draining) return "draining";
    if (this._peer === undefined) return "no-settings";
    if (this.nextStreamId > MAX_STREAM_ID) return "ids-exhausted";
    if (this.streams.size >= this._peer.maxConcurrentStreams) return "stream-limit";
    return undefined;
  }

  /** Client: true when a stream may be opened now (settings known, below the peer's limit, not draining). */
  get canOpenStream(): boolean {
    return this.whyCannotOpen() === undefined;
  }

  /** Client: opens a stream and sends its request HEADERS. Check `canOpenStream` first. */
  openStream(path: string, headers: Metadata, events: StreamEvents = {}, endStream = false): Stream {
    if (this.role !== "client") throw new Error("only a client opens streams");
    const why = this.whyCannotOpen();
    if (why !== undefined || !this._peer) throw new Error(`cannot open a stream now (${why}): check canOpenStream`);
    const stream = new Stream(
      this.nextStreamId,
      this.host,
      this._peer.initialStreamWindow,
      this.local.initialStreamWindow,
      this.local.maxMessageSize,
    );
    stream.events = events;
    // Throws TypeError for metadata that cannot be sent, before the stream takes an id or a slot.
    stream.sendHeaders([[PATH, path], ...headers], endStream);
    this.nextStreamId += 2;
    this.streams.set(stream.id, stream);
    return stream;
  }

  /** Feeds one received WebSocket message. Never throws: a protocol violation closes the session. */
  receive(message: Uint8Array): void {
    if (this._closed) return;
    this.keepalive?.received();
    const r = this.reader.reset(message);
    this.receiving = true;
    try {
      if (message.length === 0) this.budget.charge("emptyMessages");
      while (r.next()) {
        if (this.trace) this.trace(describeFrame("<", r));
        this.onFrame(r);
      }
    } catch (error) {
      // Anything but a ProtocolError is a bug on this side (e.g. a throwing callback), not the peer's fault.
      if (error instanceof ProtocolError) this.fail(error);
      else
        this.fail(
          new ProtocolError(ErrorCode.INTERNAL_ERROR, error instanceof Error ? error.message : String(error)),
          CloseCode.INTERNAL_ERROR,
        );
    } finally {
      this.receiving = false;
    }
    // Credit goes back between WebSocket messages only: within one, the window holds exactly.
    this.returnConnectionCredit();
  }

  // PROTOCOL.md 5.2: connection credit for bytes no stream holds, once it is worth a frame.
  private returnConnectionCredit(): void {
    if (this.receiving || this._closed) return;
    const returnable = this.connUnreturned - this.connHeld;
    if (returnable < this.local.initialConnectionWindow >>> 1) return;
    this.writer.windowUpdate(0, returnable);
    this.connUnreturned -= returnable;
  }

  /** A text WebSocket message arrived: a connection error (close 1003). */
  receiveText(): void {
    this.fail(
      new ProtocolError(ErrorCode.PROTOCOL_ERROR, "text WebSocket message: grpc-ws carries binary messages only"),
      CloseCode.UNSUPPORTED_DATA,
    );
  }

  /** The socket can take more after `send` returned false. */
  drained(): void {
    this.socketBlocked = false;
    this.pump();
  }

  /** Sends GOAWAY: the peer opens no more streams; streams already open finish. */
  goAway(code: number = ErrorCode.NO_ERROR, debug = ""): void {
    if (this._closed) return;
    this._draining = true;
    this.writer.goAway(this.lastPeerStreamId, code, truncateUtf8(debug, MAX_GOAWAY_DEBUG));
  }

  /** Resolves when no stream is open (immediately if none is). */
  whenIdle(): Promise<void> {
    if (this.streams.size === 0 || this._closed) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Ends the session: every open stream is reset with `error`, the socket is closed with
   * `closeCode` (unless `closeCode` is 0: the socket is already gone).
   */
  close(error: SessionClosedError, closeCode: number = CloseCode.NORMAL): void {
    if (this._closed) return;
    this.writer.flush();
    this._closed = true;
    this._draining = true;
    this.keepalive?.stop();
    this.trace?.(`session closed: ${error.message}`);
    for (const stream of [...this.streams.values()]) stream.abort(ErrorCode.CANCEL, error);
    this.streams.clear();
    this.resolveIdle();
    if (closeCode !== 0) this.socket.close(closeCode, truncateUtf8(error.message, MAX_CLOSE_REASON));
    this.options.onClose?.(error);
  }

  // --- outbound -------------------------------------------------------------------------

  // On each keepalive check: a connection with no stream open lets its framing buffer go, so one
  // that was busy once does not keep 64 KiB (or more) while idle. Not on every last stream's
  // close: a client making one call at a time is idle between calls, and would reallocate per call.
  private trimWhenIdle(): void {
    if (this.streams.size === 0 && this.ready.length === 0) this.writer.trim();
  }

  // Frames queued messages, one frame per ready stream in turn, while the connection window and the socket allow.
  private pump(): void {
    if (this.pumping || this._closed || !this._peer) return;
    this.pumping = true;
    const maxFrame = this._peer.maxFrameSize;
    const batchLimit = 4 * this.writeHighWaterMark;
    try {
      while (
        this.ready.length > 0 &&
        this.connSendWindow > 0 &&
        !this.socketBlocked &&
        this.writer.pending < batchLimit
      ) {
        this.connSendWindow -= this.ready.shift()!.sendData(Math.min(maxFrame, this.connSendWindow));
      }
    } finally {
      this.pumping = false;
    }
  }

  private sinkMessage(message: Uint8Array, release: () => void): void {
    if (this._closed) return;
    if (this.trace) traceMessage(this.trace, message);
    if (this.socket.send(message, release) === false) this.socketBlocked = true;
    else if (this.ready.length > 0) this.pump();
  }

  // --- inbound --------------------------------------------------------------------------

  private onFrame(r: FrameReader): void {
    if (!this._peer && r.type !== FrameType.SETTINGS) {
      throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, "the first frame must be SETTINGS");
    }
    switch (r.type) {
      case FrameType.SETTINGS:
        return this.onSettings(r);
      case FrameType.HEADERS:
        return this.role === "client" ? this.onResponseHeaders(r) : this.onRequestHeaders(r);
      case FrameType.DATA:
        return this.onData(r);
      case FrameType.TRAILERS:
        return this.onTrailers(r);
      case FrameType.RST_STREAM:
        return this.onReset(r.streamId, r.u32(0));
      case FrameType.WINDOW_UPDATE:
        return this.onWindowUpdate(r.streamId, r.u32(0));
      case FrameType.PING:
        if (r.flags & Flags.ACK) return this.keepalive?.acked();
        this.budget.charge("pings");
        this.writer.ping(r.payload, true);
        return;
      case FrameType.GOAWAY:
        return this.onGoAway(
          r.u32(0) & MAX_STREAM_ID,
          r.u32(4),
          decoder.decode(r.bytes.subarray(r.offset + 8, r.offset + r.length)),
        );
    }
  }

  private onSettings(r: FrameReader): void {
    if (this._peer) throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, "SETTINGS may be sent only once");
    this._peer = readSettings(r.bytes, r.offset, r.length);
    this.connSendWindow = this._peer.initialConnectionWindow;
    this.options.onSettings?.(this._peer);
  }

  private onResponseHeaders(r: FrameReader): void {
    const stream = this.streams.get(r.streamId);
    if (!stream) return this.checkKnown(r.streamId);
    if (!stream.receiveHeaders((r.flags & Flags.END_STREAM) !== 0)) return;
    if (r.length > this.local.maxMetadataSize)
      return stream.tooLarge(`response headers of ${r.length} bytes exceed the limit of ${this.local.maxMetadataSize}`);
    const headers = readMetadata(r.bytes, r.offset, r.length, Infinity, r.streamId);
    this.budget.charge("metadataEntries", headers.length);
    stream.events.onHeaders?.(headers);
  }

  private onRequestHeaders(r: FrameReader): void {
    const id = r.streamId;
    if (id % 2 === 0 || id <= this.lastPeerStreamId) {
      throw new ProtocolError(
        ErrorCode.PROTOCOL_ERROR,
        `HEADERS opening stream ${id}: client stream ids must be odd and increasing (last was ${this.lastPeerStreamId})`,
      );
    }
    this.lastPeerStreamId = id;
    if (this._draining || this.streams.size >= this.local.maxConcurrentStreams) {
      this.writer.rstStream(id, ErrorCode.REFUSED_STREAM);
      this.budget.charge("refusedStreams");
      return;
    }
    this.budget.charge("streamStarts");
    const endStream = (r.flags & Flags.END_STREAM) !== 0;
    const stream = new Stream(
      id,
      this.host,
      this._peer!.initialStreamWindow,
      this.local.initialStreamWindow,
      this.local.maxMessageSize,
    );
    stream.opened(endStream);
    this.streams.set(id, stream);
    if (r.length > this.local.maxMetadataSize) {
      return stream.tooLarge(`request headers of ${r.length} bytes exceed the limit of ${this.local.maxMetadataSize}`);
    }
    const headers = readMetadata(r.bytes, r.offset, r.length, Infinity, id);
    this.budget.charge("metadataEntries", headers.length);
    const first = headers[0];
    if (!first || first[0] !== PATH || typeof first[1] !== "string" || !first[1].startsWith("/")) {
      this.budget.charge("resets");
      stream.reset(ErrorCode.PROTOCOL_ERROR);
      stream.events.onReset?.(
        ErrorCode.PROTOCOL_ERROR,
        new ProtocolError(ErrorCode.PROTOCOL_ERROR, "request HEADERS must start with :path", id),
      );
      return;
    }
    headers.shift();
    this.options.onStream?.(stream, first[1], headers, endStream);
  }

  private onData(r: FrameReader): void {
    const length = r.length;
    if (length > 0) {
      if (length > this.local.initialConnectionWindow - this.connUnreturned) {
        throw new ProtocolError(
          ErrorCode.FLOW_CONTROL_ERROR,
          `DATA of ${length} bytes exceeds the connection window of ${this.local.initialConnectionWindow - this.connUnreturned}`,
        );
      }
      // Credit goes back once no stream holds these bytes (returnConnectionCredit).
      this.connUnreturned += length;
    } else if (!(r.flags & Flags.END_STREAM)) {
      this.budget.charge("emptyFrames");
    }
    const stream = this.streams.get(r.streamId);
    if (!stream) return this.checkKnown(r.streamId);
    stream.receiveData(r.payload, (r.flags & Flags.END_STREAM) !== 0);
  }

  private onTrailers(r: FrameReader): void {
    if (this.role === "server") throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, "a client must not send TRAILERS");
    const stream = this.streams.get(r.streamId);
    if (!stream) return this.checkKnown(r.streamId);
    if (r.length > this.local.maxMetadataSize)
      return stream.tooLarge(`trailers of ${r.length} bytes exceed the limit of ${this.local.maxMetadataSize}`);
    const trailers = readMetadata(r.bytes, r.offset, r.length, Infinity, r.streamId);
    this.budget.charge("metadataEntries", trailers.length);
    stream.receiveTrailers(trailers);
  }

  private onReset(id: number, code: number): void {
    const stream = this.streams.get(id);
    if (!stream) return this.checkKnown(id);
    // Only a reset that cuts short a call the server is running costs it work (rapid reset, CVE-2023-44487).
    if (this.role === "server") this.budget.charge("resets");
    stream.receiveReset(code);
  }

  private onWindowUpdate(id: number, increment: number): void {
    this.budget.charge("windowUpdates");
    if (id === 0) {
      this.connSendWindow += increment;
      if (this.connSendWindow > MAX_WINDOW_SIZE)
        throw new ProtocolError(ErrorCode.FLOW_CONTROL_ERROR, "connection window above 2^31-1");
      for (const stream of this.streams.values()) stream.resume();
    } else {
      const stream = this.streams.get(id);
      if (!stream) return this.checkKnown(id);
      stream.receiveWindowUpdate(increment);
    }
    this.pump();
  }

  private onGoAway(lastStreamId: number, code: number, debug: string): void {
    this._draining = true;
    if (this.role === "client") {
      for (const stream of [...this.streams.values()]) {
        if (stream.id > lastStreamId) {
          stream.abort(
            ErrorCode.REFUSED_STREAM,
            new ProtocolError(ErrorCode.REFUSED_STREAM, `server is going away${debug ? `: ${debug}` : ""}`, stream.id),
          );
        }
      }
    }
    this.options.onGoAway?.(lastStreamId, code, debug);
    if (code !== ErrorCode.NO_ERROR) {
      this.close(
        new SessionClosedError(
          `peer sent GOAWAY ${ErrorCodeName[code] ?? code}${debug ? `: ${debug}` : ""}`,
          code,
          true,
        ),
        CloseCode.NORMAL,
      );
    }
  }

  // A frame for a stream we do not have: fine if it was closed recently, an error if never opened.
  private checkKnown(id: number): void {
    // Only odd ids are ever opened (by the client): an even id is never a stream that was closed.
    const opened = id % 2 === 1 && (this.role === "client" ? id < this.nextStreamId : id <= this.lastPeerStreamId);
    if (!opened) throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, `frame for stream ${id}, which was never opened`);
  }

  private resolveIdle(): void {
    // Runs each time the last stream closes (between every two calls of a one-at-a-time client).
    if (this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private fail(error: ProtocolError, closeCode: number = CloseCode.PROTOCOL_ERROR): void {
    if (this._closed) return;
    this.writer.goAway(this.lastPeerStreamId, error.code, truncateUtf8(error.message, MAX_GOAWAY_DEBUG));
    this.close(new SessionClosedError(`protocol error: ${error.message}`, error.code), closeCode);
  }
}

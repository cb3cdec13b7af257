import { FRAME_HEADER_SIZE, FrameType, Flags } from "./constants.js";

export interface FrameWriterOptions {
  /**
   * Runs `flush` later in the same turn of the event loop, after every frame written in this
   * tick. Default: `setImmediate` where it exists (Node), else a resolved-promise microtask.
   */
  schedule?: (flush: () => void) => void;
  /**
   * Bytes of the first slab, allocated at the first write (a writer that never writes holds no
   * buffer). Later slabs grow to hold two of the largest bursts written (up to 4 MiB); a larger
   * frame gets a slab of its own size. Default: a first slab of 4 KiB, so a connection with
   * little traffic holds a small buffer (see also `trim()`), and slabs of at least 64 KiB once a
   * writer outgrows it, so a busy one fits many bursts per slab.
   */
  slabSize?: number;
  /**
   * True when the sink copies the bytes before returning (a browser WebSocket, `ws` in client
   * mode): the writer reuses its slab at once. Leave false when the sink keeps a reference
   * (`ws` in server mode writes the buffer later): the writer then reuses a slab's memory only
   * after the sink has called `release` for every message cut from it, and never overwrites
   * bytes the sink may still read.
   */
  sinkCopies?: boolean;
}

/**
 * Takes one WebSocket message. A sink that keeps a reference to `message` calls `release()` once
 * it no longer needs the bytes (e.g. `ws`'s send callback); one that never calls it only costs
 * fresh memory for later messages.
 */
export type FrameSink = (message: Uint8Array, release: () => void) => void;

const NOOP = () => {};
const EMPTY = new Uint8Array(0);
const DEFAULT_SLAB_SIZE = 4 * 1024;
// Slabs of a writer that outgrew its first one: many bursts fit in one before it must move on.
const BUSY_SLAB_SIZE = 64 * 1024;
// Slabs grow with the bursts written, up to this size; a larger burst gets a slab of its own.
const MAX_SLAB_SIZE = 4 * 1024 * 1024;

const defaultSchedule: (fn: () => void) => void =
  typeof setImmediate === "function" ? (fn) => void setImmediate(fn) : (fn) => void Promise.resolve().then(fn);

/**
 * Encodes frames straight into a reused slab and hands everything written in one tick to the
 * sink as a single WebSocket message (fewer, larger messages are the biggest throughput lever).
 */
export class FrameWriter {
  /** The current slab; `begin()` returns offsets into it. Empty until the first write. */
  buf: Uint8Array = EMPTY;
  private start = 0;
  private end = 0;
  private scheduled = false;
  private readonly schedule: (fn: () => void) => void;
  private slabSize: number;
  private readonly firstSlabSize: number;
  private readonly busySlabSize: number;
  private readonly sinkCopies: boolean;
  private readonly flushBound = () => this.flush();
  // Messages cut from `buf` that the sink has not released yet.
  private refs = 0;
  // Earlier slabs still referenced by the sink, with their unreleased message counts. Weak: a
  // sink that never releases must not make the writer hold every slab it ever used.
  private readonly retired = new WeakMap<Uint8Array, number>();
  // One fully released earlier slab, reused by the next grow() that fits in it.
  private spare: Uint8Array | undefined;

  constructor(
    private readonly sink: FrameSink,
    options: FrameWriterOptions = {},
  ) {
    this.schedule = options.schedule ?? defaultSchedule;
    this.slabSize = this.firstSlabSize = options.slabSize ?? DEFAULT_SLAB_SIZE;
    this.busySlabSize = options.slabSize ?? BUSY_SLAB_SIZE;
    this.sinkCopies = options.sinkCopies ?? false;
  }

  /**
   * Lets go of the slab (and the spare one) when nothing is pending and the sink holds nothing
   * cut from it, so an idle connection keeps no buffer, and forgets the bursts seen so far: the
   * next write allocates a first slab (`slabSize`, 4 KiB by default) again, which grows only if
   * the writer gets busy again. Returns false (and keeps everything) otherwise.
   */
  trim(): boolean {
    if (this.refs !== 0 || this.start !== this.end) return false;
    this.buf = EMPTY;
    this.spare = undefined;
    this.start = this.end = 0;
    this.slabSize = this.firstSlabSize;
    return true;
  }

  /** Bytes of slab memory this writer holds (the current slab and the spare one). */
  get capacity(): number {
    return this.buf.length + (this.spare?.length ?? 0);
  }

  /** Bytes written and not yet flushed. */
  get pending(): number {
    return this.end - this.start;
  }

  /**
   * Writes a frame header and reserves `length` payload bytes; returns the payload's offset in
   * `this.buf`, which the caller fills before writing anything else.
   */
  begin(type: FrameType, flags: number, streamId: number, length: number): number {
    const total = FRAME_HEADER_SIZE + length;
    if (this.end + total > this.buf.length) {
      if (this.refs === 0 && this.start === this.end && total <= this.buf.length) this.start = this.end = 0;
      else this.grow(total);
    }
    const b = this.buf;
    const p = this.end;
    b[p] = length >>> 16;
    b[p + 1] = length >>> 8;
    b[p + 2] = length;
    b[p + 3] = type;
    b[p + 4] = flags;
    b[p + 5] = streamId >>> 24;
    b[p + 6] = streamId >>> 16;
    b[p + 7] = streamId >>> 8;
    b[p + 8] = streamId;
    this.end = p + total;
    if (!this.scheduled) {
      this.scheduled = true;
      this.schedule(this.flushBound);
    }
    return p + FRAME_HEADER_SIZE;
  }

  writeU32(offset: number, value: number): void {
    const b = this.buf;
    b[offset] = value >>> 24;
    b[offset + 1] = value >>> 16;
    b[offset + 2] = value >>> 8;
    b[offset + 3] = value;
  }

  data(streamId: number, payload: Uint8Array, endStream = false): void {
    const o = this.begin(FrameType.DATA, endStream ? Flags.END_STREAM : 0, streamId, payload.length);
    this.buf.set(payload, o);
  }

  rstStream(streamId: number, code: number): void {
    this.writeU32(this.begin(FrameType.RST_STREAM, 0, streamId, 4), code);
  }

  windowUpdate(streamId: number, increment: number): void {
    this.writeU32(this.begin(FrameType.WINDOW_UPDATE, 0, streamId, 4), increment);
  }

  ping(payload: Uint8Array, ack: boolean): void {
    const o = this.begin(FrameType.PING, ack ? Flags.ACK : 0, 0, 8);
    this.buf.set(payload.subarray(0, 8), o);
  }

  goAway(lastStreamId: number, code: number, debug = ""): void {
    const text = new TextEncoder().encode(debug);
    const o = this.begin(FrameType.GOAWAY, 0, 0, 8 + text.length);
    this.writeU32(o, lastStreamId);
    this.writeU32(o + 4, code);
    this.buf.set(text, o + 8);
  }

  /** Sends everything written so far as one message. Called by the scheduler; call it directly to send now. */
  flush(): void {
    this.scheduled = false;
    if (this.end === this.start) return;
    const message = this.buf.subarray(this.start, this.end);
    if (this.sinkCopies) {
      this.start = this.end = 0;
      this.sink(message, NOOP);
      return;
    }
    this.start = this.end;
    // Size new slabs for the bursts this writer really sends: one holds two of them, so a burst
    // is written in place while the previous one is still held, with no move between slabs.
    if (message.length * 2 > this.slabSize) this.slabSize = Math.min(MAX_SLAB_SIZE, message.length * 2);
    this.refs++;
    const slab = this.buf;
    let released = false;
    this.sink(message, () => {
      if (released) return;
      released = true;
      this.release(slab);
    });
  }

  private release(slab: Uint8Array): void {
    if (slab === this.buf) {
      // Everything cut from the current slab is written: start over at its beginning, while hot in cache.
      if (--this.refs === 0 && this.start === this.end) this.start = this.end = 0;
      return;
    }
    const refs = this.retired.get(slab)! - 1;
    if (refs > 0) {
      this.retired.set(slab, refs);
      return;
    }
    this.retired.delete(slab);
    if (!this.spare || slab.length > this.spare.length) this.spare = slab;
  }

  // Moves the unflushed bytes to a fresh slab: the old one may still be referenced by the sink.
  // The slab at least doubles with the pending bytes, so a message of many large frames is moved
  // a bounded number of times instead of once per frame (which was quadratic).
  private grow(need: number): void {
    // Outgrowing a slab means real traffic: from then on, slabs are at least `busySlabSize`.
    if (this.buf.length > 0 && this.slabSize < this.busySlabSize) this.slabSize = this.busySlabSize;
    const pending = this.end - this.start;
    const size = Math.max(this.slabSize, 2 * pending + need);
    let next: Uint8Array;
    if (this.spare && this.spare.length >= size) {
      next = this.spare;
      this.spare = undefined;
    } else {
      next = new Uint8Array(size);
    }
    next.set(this.buf.subarray(this.start, this.end));
    if (this.refs > 0) this.retired.set(this.buf, this.refs);
    else if (this.buf.length > 0 && (!this.spare || this.buf.length > this.spare.length)) this.spare = this.buf;
    this.refs = 0;
    this.buf = next;
    this.start = 0;
    this.end = pending;
  }
}

import { Status } from "./status.js";

/** The gRPC message prefix: a flags byte (bit 0: compressed) and a u32 big-endian length. */
export const MESSAGE_PREFIX_SIZE = 5;
export const MessageFlags = { COMPRESSED: 0x1 } as const;

export function writeMessagePrefix(buf: Uint8Array, offset: number, length: number, flags = 0): void {
  buf[offset] = flags;
  buf[offset + 1] = length >>> 24;
  buf[offset + 2] = length >>> 16;
  buf[offset + 3] = length >>> 8;
  buf[offset + 4] = length;
}

/** A message that this side cannot accept; `status` is the gRPC status the call ends with. */
export class MessageError extends Error {
  override readonly name = "MessageError";
  constructor(
    readonly status: Status,
    message: string,
  ) {
    super(message);
  }
}

/** First buffer for a message that spans chunks; it doubles as bytes arrive, up to the declared size. */
const INITIAL_REASSEMBLY = 16 * 1024;

/**
 * A view is handed out only for a message at least 1/PIN_RATIO of the memory behind its chunk;
 * a smaller one is copied, so that a held message never keeps more than PIN_RATIO times its
 * size alive (a 12-byte message must not pin the 6 MB WebSocket message it arrived in).
 */
export const PIN_RATIO = 4;

/**
 * Reassembles length-prefixed gRPC messages from DATA payloads split at any byte. A message that
 * lies within one chunk is returned as a view (no copy) unless it is small beside the chunk's
 * memory (see `PIN_RATIO`); one that spans chunks is copied into a buffer that grows as its bytes
 * arrive, up to its declared size (checked against `maxMessageSize` first): memory follows the
 * bytes received, never the size a prefix declares.
 */
export class MessageReader {
  // Only for a prefix split across chunks (rare): allocated then, not per stream.
  private header: Uint8Array | undefined;
  private headerFill = 0;
  private body: Uint8Array | null = null;
  private bodyFill = 0;
  private bodyLength = 0;
  private bodyCompressed = false;
  /** Set once the call negotiated a `grpc-encoding`: compressed messages are passed on, flagged. */
  acceptCompressed = false;

  constructor(public maxMessageSize: number) {}

  /** Bytes of a message begun but not completed; non-zero at end of stream means a truncated message. */
  get partial(): number {
    return this.body !== null ? MESSAGE_PREFIX_SIZE + this.bodyFill : this.headerFill;
  }

  /** Bytes allocated for the message being reassembled (0 when none is). */
  get reserved(): number {
    return this.body?.length ?? 0;
  }

  /** Calls `onMessage` for every message completed by `chunk` (`compressed`: its flag). Throws `MessageError`. */
  push(chunk: Uint8Array, onMessage: (message: Uint8Array, compressed: boolean) => void): void {
    let o = 0;
    const n = chunk.length;
    while (o < n) {
      if (this.body !== null) {
        const take = Math.min(this.bodyLength - this.bodyFill, n - o);
        if (this.bodyFill + take > this.body.length) this.grow(this.bodyFill + take);
        this.body.set(chunk.subarray(o, o + take), this.bodyFill);
        this.bodyFill += take;
        o += take;
        if (this.bodyFill === this.bodyLength) {
          const message = this.body;
          this.body = null;
          this.bodyFill = 0;
          onMessage(message, this.bodyCompressed);
        }
        continue;
      }
      let flags: number;
      let length: number;
      if (this.headerFill === 0 && n - o >= MESSAGE_PREFIX_SIZE) {
        flags = chunk[o]!;
        length = ((chunk[o + 1]! << 24) | (chunk[o + 2]! << 16) | (chunk[o + 3]! << 8) | chunk[o + 4]!) >>> 0;
        o += MESSAGE_PREFIX_SIZE;
      } else {
        const take = Math.min(MESSAGE_PREFIX_SIZE - this.headerFill, n - o);
        const h = (this.header ??= new Uint8Array(MESSAGE_PREFIX_SIZE));
        h.set(chunk.subarray(o, o + take), this.headerFill);
        this.headerFill += take;
        o += take;
        if (this.headerFill < MESSAGE_PREFIX_SIZE) return;
        flags = h[0]!;
        length = ((h[1]! << 24) | (h[2]! << 16) | (h[3]! << 8) | h[4]!) >>> 0;
        this.headerFill = 0;
      }
      this.check(flags, length);
      if (n - o >= length) {
        const view = chunk.subarray(o, o + length);
        onMessage(length * PIN_RATIO < chunk.buffer.byteLength ? new Uint8Array(view) : view, flags !== 0);
        o += length;
      } else {
        this.bodyLength = length;
        this.body = new Uint8Array(Math.min(length, Math.max(INITIAL_REASSEMBLY, n - o)));
        this.bodyFill = 0;
        this.bodyCompressed = flags !== 0;
      }
    }
  }

  // Doubles the buffer (at least to `needed`), never past the declared size: the last growth lands on it exactly.
  private grow(needed: number): void {
    const body = new Uint8Array(Math.min(this.bodyLength, Math.max(needed, 2 * this.body!.length)));
    body.set(this.body!.subarray(0, this.bodyFill));
    this.body = body;
  }

  private check(flags: number, length: number): void {
    // A compressed message's length is checked here, its decompressed size while inflating.
    if (flags !== 0) {
      if (flags !== MessageFlags.COMPRESSED)
        throw new MessageError(Status.INTERNAL, `invalid message flags 0x${flags.toString(16)}`);
      if (!this.acceptCompressed)
        throw new MessageError(Status.INTERNAL, "received a compressed message, but no grpc-encoding was negotiated");
    }
    if (length > this.maxMessageSize) {
      throw new MessageError(
        Status.RESOURCE_EXHAUSTED,
        `message of ${length} bytes exceeds the limit of ${this.maxMessageSize} bytes`,
      );
    }
  }
}

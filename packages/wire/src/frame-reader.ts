import {
  FRAME_HEADER_SIZE,
  FrameType,
  FrameTypeName,
  ErrorCode,
  MAX_FRAME_SIZE_LIMIT,
  MAX_FRAME_TYPE,
  MAX_WINDOW_SIZE,
} from "./constants.js";
import { ProtocolError } from "./errors.js";

// Per-type rules as bit sets over the type (bit `1 << type`), so a valid frame costs a few ANDs.
const bit = (...types: number[]): number => types.reduce((set, t) => set | (1 << t), 0);
/** Types that may carry END_STREAM / ACK (0x1); every other flag bit is invalid everywhere. */
const FLAG_1 = bit(FrameType.DATA, FrameType.HEADERS, FrameType.PING);
const STREAM_ID_ZERO = bit(FrameType.SETTINGS, FrameType.PING, FrameType.GOAWAY);
const STREAM_ID_NONZERO = bit(FrameType.DATA, FrameType.HEADERS, FrameType.TRAILERS, FrameType.RST_STREAM);
// Payload length rules: exactly 4 or 8 bytes, a multiple of 6, or at least 8.
const LENGTH_4 = bit(FrameType.RST_STREAM, FrameType.WINDOW_UPDATE);
const LENGTH_8 = bit(FrameType.PING);
const LENGTH_MULTIPLE_OF_6 = bit(FrameType.SETTINGS);
const LENGTH_AT_LEAST_8 = bit(FrameType.GOAWAY);
const LENGTH_RULED = LENGTH_4 | LENGTH_8 | LENGTH_MULTIPLE_OF_6 | LENGTH_AT_LEAST_8;

const EMPTY = new Uint8Array(0);

/**
 * Walks the frames of one WebSocket message without copying: after `next()` returns true, the
 * fields describe the current frame and `payload` is a view into the message.
 * Every malformed input throws a `ProtocolError`; nothing else is ever thrown.
 */
export class FrameReader {
  type: FrameType = FrameType.DATA;
  flags = 0;
  streamId = 0;
  /** Offset of the current frame's payload in `bytes`. */
  offset = 0;
  /** Length of the current frame's payload. */
  length = 0;
  private data: Uint8Array = EMPTY;
  // `bytes.buffer` and `bytes.byteOffset`, cached: constructing a view from them is about twice
  // as fast as `subarray`, and `payload` runs once per frame.
  private buffer: ArrayBufferLike = EMPTY.buffer;
  private base = 0;
  private pos = 0;

  /** @param maxFrameSize the largest payload accepted: the MAX_FRAME_SIZE this side advertised. */
  constructor(public maxFrameSize = MAX_FRAME_SIZE_LIMIT) {}

  /** The message being read. */
  get bytes(): Uint8Array {
    return this.data;
  }

  set bytes(bytes: Uint8Array) {
    this.data = bytes;
    this.buffer = bytes.buffer;
    this.base = bytes.byteOffset;
  }

  reset(bytes: Uint8Array): this {
    this.bytes = bytes;
    this.pos = 0;
    return this;
  }

  /** The current frame's payload: a view into `bytes`, valid as long as the message is. */
  get payload(): Uint8Array {
    return new Uint8Array(this.buffer, this.base + this.offset, this.length);
  }

  /** Reads a u32 at `at` bytes into the current payload. */
  u32(at: number): number {
    const b = this.data;
    const o = this.offset + at;
    return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
  }

  next(): boolean {
    const b = this.data;
    const p = this.pos;
    const left = b.length - p;
    if (left === 0) return false;
    if (left < FRAME_HEADER_SIZE) {
      throw new ProtocolError(
        ErrorCode.FRAME_SIZE_ERROR,
        `truncated frame header: ${left} of ${FRAME_HEADER_SIZE} bytes`,
      );
    }
    const length = (b[p]! << 16) | (b[p + 1]! << 8) | b[p + 2]!;
    const type = b[p + 3]!;
    const flags = b[p + 4]!;
    const rawId = ((b[p + 5]! << 24) | (b[p + 6]! << 16) | (b[p + 7]! << 8) | b[p + 8]!) >>> 0;
    if (type > MAX_FRAME_TYPE) {
      throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, `unknown frame type 0x${type.toString(16)}`);
    }
    if (length > this.maxFrameSize) {
      throw new ProtocolError(
        ErrorCode.FRAME_SIZE_ERROR,
        `${FrameTypeName[type]} payload of ${length} bytes exceeds max frame size ${this.maxFrameSize}`,
      );
    }
    if (length > left - FRAME_HEADER_SIZE) {
      throw new ProtocolError(
        ErrorCode.FRAME_SIZE_ERROR,
        `truncated ${FrameTypeName[type]} frame: payload of ${length} bytes, ${left - FRAME_HEADER_SIZE} present`,
      );
    }
    if (rawId > 0x7fffffff) {
      throw new ProtocolError(
        ErrorCode.PROTOCOL_ERROR,
        `${FrameTypeName[type]} frame has the reserved stream id bit set`,
      );
    }
    const t = 1 << type;
    if (flags !== 0 && (flags !== 1 || (t & FLAG_1) === 0)) {
      throw new ProtocolError(
        ErrorCode.PROTOCOL_ERROR,
        `${FrameTypeName[type]} frame has invalid flags 0x${flags.toString(16)}`,
      );
    }
    if ((t & STREAM_ID_ZERO) !== 0 && rawId !== 0) {
      throw new ProtocolError(
        ErrorCode.PROTOCOL_ERROR,
        `${FrameTypeName[type]} frame must have stream id 0, got ${rawId}`,
      );
    }
    if ((t & STREAM_ID_NONZERO) !== 0 && rawId === 0) {
      throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, `${FrameTypeName[type]} frame must not have stream id 0`);
    }
    if (
      (t & LENGTH_RULED) !== 0 &&
      (((t & LENGTH_4) !== 0 && length !== 4) ||
        ((t & LENGTH_8) !== 0 && length !== 8) ||
        ((t & LENGTH_MULTIPLE_OF_6) !== 0 && length % 6 !== 0) ||
        ((t & LENGTH_AT_LEAST_8) !== 0 && length < 8))
    ) {
      throw new ProtocolError(
        ErrorCode.FRAME_SIZE_ERROR,
        `${FrameTypeName[type]} frame has invalid payload length ${length}`,
      );
    }
    this.type = type as FrameType;
    this.flags = flags;
    this.streamId = rawId;
    this.offset = p + FRAME_HEADER_SIZE;
    this.length = length;
    this.pos = p + FRAME_HEADER_SIZE + length;
    if (type === FrameType.WINDOW_UPDATE) {
      const increment = this.u32(0);
      if (increment === 0 || increment > MAX_WINDOW_SIZE) {
        throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, `WINDOW_UPDATE increment ${increment} is outside 1..2^31-1`);
      }
    }
    return true;
  }
}

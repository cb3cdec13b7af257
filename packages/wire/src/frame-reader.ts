import { FRAME_HEADER_SIZE, FrameType, FrameTypeName, ErrorCode, MAX_FRAME_SIZE_LIMIT, MAX_WINDOW_SIZE } from "./constants.js";
import { ProtocolError } from "./errors.js";

// Per type: allowed flag bits, whether the stream id must be 0 (true), non-zero (false) or either (null),
// and the exact payload length (-1: any, -2: a multiple of 6, -3: at least 8).
const ALLOWED_FLAGS = [0x1, 0x1, 0, 0, 0, 0x1, 0, 0];
const CONNECTION_FRAME: Array<boolean | null> = [false, false, false, false, true, true, true, null];
const PAYLOAD_RULE = [-1, -1, -1, 4, -2, 8, -3, 4];

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
  bytes: Uint8Array = new Uint8Array(0);
  private pos = 0;

  /** @param maxFrameSize the largest payload accepted: the MAX_FRAME_SIZE this side advertised. */
  constructor(public maxFrameSize = MAX_FRAME_SIZE_LIMIT) {}

  reset(bytes: Uint8Array): this {
    this.bytes = bytes;
    this.pos = 0;
    return this;
  }

  get payload(): Uint8Array {
    return this.bytes.subarray(this.offset, this.offset + this.length);
  }

  /** Reads a u32 at `at` bytes into the current payload. */
  u32(at: number): number {
    const b = this.bytes;
    const o = this.offset + at;
    return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
  }

  next(): boolean {
    const b = this.bytes;
    const p = this.pos;
    const left = b.length - p;
    if (left === 0) return false;
    if (left < FRAME_HEADER_SIZE) {
      throw new ProtocolError(ErrorCode.FRAME_SIZE_ERROR, `truncated frame header: ${left} of ${FRAME_HEADER_SIZE} bytes`);
    }
    const length = (b[p]! << 16) | (b[p + 1]! << 8) | b[p + 2]!;
    const type = b[p + 3]!;
    const flags = b[p + 4]!;
    const rawId = ((b[p + 5]! << 24) | (b[p + 6]! << 16) | (b[p + 7]! << 8) | b[p + 8]!) >>> 0;
    if (type > 7) {
      throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, `unknown frame type 0x${type.toString(16)}`);
    }
    const name = FrameTypeName[type];
    if (length > this.maxFrameSize) {
      throw new ProtocolError(ErrorCode.FRAME_SIZE_ERROR, `${name} payload of ${length} bytes exceeds max frame size ${this.maxFrameSize}`);
    }
    if (length > left - FRAME_HEADER_SIZE) {
      throw new ProtocolError(ErrorCode.FRAME_SIZE_ERROR, `truncated ${name} frame: payload of ${length} bytes, ${left - FRAME_HEADER_SIZE} present`);
    }
    if (rawId > 0x7fffffff) {
      throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, `${name} frame has the reserved stream id bit set`);
    }
    if ((flags & ~ALLOWED_FLAGS[type]!) !== 0) {
      throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, `${name} frame has invalid flags 0x${flags.toString(16)}`);
    }
    const connection = CONNECTION_FRAME[type];
    if (connection === true && rawId !== 0) {
      throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, `${name} frame must have stream id 0, got ${rawId}`);
    }
    if (connection === false && rawId === 0) {
      throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, `${name} frame must not have stream id 0`);
    }
    const rule = PAYLOAD_RULE[type]!;
    if ((rule >= 0 && length !== rule) || (rule === -2 && length % 6 !== 0) || (rule === -3 && length < 8)) {
      throw new ProtocolError(ErrorCode.FRAME_SIZE_ERROR, `${name} frame has invalid payload length ${length}`);
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

import { FRAME_HEADER_SIZE, FrameType, Flags } from "@grpc-ws/wire";

/** A decoded frame that owns a copy of its payload. */
export interface NaiveFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Uint8Array;
}

/**
 * Baseline encoder: what a straightforward implementation does. Every frame is a fresh
 * `Uint8Array` (header + payload copy); a flush concatenates them into a fresh message.
 */
export class NaiveWriter {
  private frames: Uint8Array[] = [];
  private size = 0;

  constructor(private readonly sink: (message: Uint8Array) => void) {}

  data(streamId: number, payload: Uint8Array, endStream = false): void {
    this.frame(FrameType.DATA, endStream ? Flags.END_STREAM : 0, streamId, payload);
  }

  frame(type: number, flags: number, streamId: number, payload: Uint8Array): void {
    const length = payload.length;
    const f = new Uint8Array(FRAME_HEADER_SIZE + length);
    f[0] = length >>> 16;
    f[1] = length >>> 8;
    f[2] = length;
    f[3] = type;
    f[4] = flags;
    f[5] = streamId >>> 24;
    f[6] = streamId >>> 16;
    f[7] = streamId >>> 8;
    f[8] = streamId;
    f.set(payload, FRAME_HEADER_SIZE);
    this.frames.push(f);
    this.size += f.length;
  }

  flush(): void {
    if (this.frames.length === 0) return;
    const message = new Uint8Array(this.size);
    let o = 0;
    for (const f of this.frames) {
      message.set(f, o);
      o += f.length;
    }
    this.frames = [];
    this.size = 0;
    this.sink(message);
  }
}

/**
 * Baseline decoder: a fresh object and a `slice` copy of the payload per frame. It checks
 * only what it must to stay in bounds (header present, length within the limit and the message).
 */
export function naiveDecode(message: Uint8Array, maxFrameSize: number): NaiveFrame[] {
  const frames: NaiveFrame[] = [];
  let p = 0;
  while (p < message.length) {
    if (message.length - p < FRAME_HEADER_SIZE) throw new Error("truncated frame header");
    const length = (message[p]! << 16) | (message[p + 1]! << 8) | message[p + 2]!;
    if (length > maxFrameSize) throw new Error(`frame of ${length} bytes exceeds ${maxFrameSize}`);
    const start = p + FRAME_HEADER_SIZE;
    if (start + length > message.length) throw new Error("truncated frame payload");
    frames.push({
      type: message[p + 3]!,
      flags: message[p + 4]!,
      streamId: ((message[p + 5]! << 24) | (message[p + 6]! << 16) | (message[p + 7]! << 8) | message[p + 8]!) >>> 0,
      payload: message.slice(start, start + length),
    });
    p = start + length;
  }
  return frames;
}

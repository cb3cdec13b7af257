import { MESSAGE_PREFIX_SIZE, MessageError } from "../message.js";
import type { Metadata } from "../metadata.js";
import { Status } from "../status.js";
import { GrpcWebSocketsError, METADATA_FRAME_FLAG, decodeHeaderBlock } from "./grpc-websockets.js";

/** One gRPC-Web frame of a response. */
export type GrpcWebFrame =
  | { type: "metadata"; metadata: Metadata }
  | { type: "message"; compressed: boolean; data: Uint8Array };

/**
 * Reads the server's side of a `grpc-websockets` call: gRPC-Web frames split across WebSocket
 * messages at any byte. A frame's body is buffered (bounded by `maxMessageSize`, or
 * `maxMetadataSize` for a metadata frame) until complete.
 */
export class GrpcWebReader {
  private readonly prefix = new Uint8Array(MESSAGE_PREFIX_SIZE);
  private prefixFill = 0;
  private flags = 0;
  private body: Uint8Array | null = null;
  private bodyFill = 0;

  constructor(
    private readonly maxMessageSize: number,
    private readonly maxMetadataSize: number,
  ) {}

  /** Bytes of an unfinished frame; non-zero when the socket closes means a truncated response. */
  get partial(): number {
    return this.body !== null ? MESSAGE_PREFIX_SIZE + this.bodyFill : this.prefixFill;
  }

  /** Throws MessageError (RESOURCE_EXHAUSTED, INTERNAL) or GrpcWebSocketsError (bad metadata). */
  push(chunk: Uint8Array, onFrame: (frame: GrpcWebFrame) => void): void {
    let o = 0;
    while (o < chunk.length) {
      if (this.body === null) {
        const take = Math.min(MESSAGE_PREFIX_SIZE - this.prefixFill, chunk.length - o);
        this.prefix.set(chunk.subarray(o, o + take), this.prefixFill);
        this.prefixFill += take;
        o += take;
        if (this.prefixFill < MESSAGE_PREFIX_SIZE) return;
        this.prefixFill = 0;
        this.begin();
      }
      const body = this.body!;
      const take = Math.min(body.length - this.bodyFill, chunk.length - o);
      body.set(chunk.subarray(o, o + take), this.bodyFill);
      this.bodyFill += take;
      o += take;
      if (this.bodyFill === body.length) {
        this.body = null;
        this.bodyFill = 0;
        const flags = this.flags;
        onFrame(
          flags & METADATA_FRAME_FLAG
            ? { type: "metadata", metadata: decodeHeaderBlock(body) }
            : { type: "message", compressed: (flags & 1) !== 0, data: body },
        );
      }
    }
  }

  // A complete prefix: check it, then allocate exactly the declared (and allowed) body.
  private begin(): void {
    const p = this.prefix;
    const flags = p[0]!;
    const length = ((p[1]! << 24) | (p[2]! << 16) | (p[3]! << 8) | p[4]!) >>> 0;
    const isMetadata = (flags & METADATA_FRAME_FLAG) !== 0;
    if ((flags & ~(METADATA_FRAME_FLAG | 1)) !== 0 || (isMetadata && flags !== METADATA_FRAME_FLAG)) {
      throw new MessageError(Status.INTERNAL, `invalid gRPC-Web frame flags 0x${flags.toString(16)}`);
    }
    const max = isMetadata ? this.maxMetadataSize : this.maxMessageSize;
    if (length > max)
      throw new MessageError(
        Status.RESOURCE_EXHAUSTED,
        `${isMetadata ? "metadata" : "message"} of ${length} bytes exceeds the limit of ${max} bytes`,
      );
    this.flags = flags;
    this.body = new Uint8Array(length);
  }
}

export { GrpcWebSocketsError };

import { MESSAGE_PREFIX_SIZE } from "./message.js";
import type { Metadata } from "./metadata.js";

/** What goes out after the last queued message: END_STREAM (half-close) or the server's TRAILERS. */
export type QueuedEnd =
  | { readonly kind: "half-close" }
  | {
      readonly kind: "trailers";
      readonly trailers: Metadata /** Encoded size, measured once. */;
      readonly size: number;
    };

export const HALF_CLOSE: QueuedEnd = Object.freeze({ kind: "half-close" });

/**
 * A stream's outbound messages, not yet framed: whole messages, each framed with its 5-byte
 * prefix, cut into DATA payloads of any size by `copyTo`.
 */
export class OutboundQueue {
  private readonly messages: Uint8Array[] = [];
  /** Bytes of messages[0], prefix included, already copied out. */
  private sent = 0;
  /** Bytes (prefixes included) not yet copied out. */
  pendingBytes = 0;
  /** Set once: what follows the last message. */
  end: QueuedEnd | undefined;
  // Messages to send with the compressed flag; allocated by the first one.
  private compressed: WeakSet<Uint8Array> | undefined;

  push(message: Uint8Array, compressed = false): void {
    if (compressed) (this.compressed ??= new WeakSet()).add(message);
    this.messages.push(message);
    this.pendingBytes += message.length + MESSAGE_PREFIX_SIZE;
  }

  /** Part of a message went out: what follows must continue it (else the peer's parse breaks). */
  get midMessage(): boolean {
    return this.sent > 0;
  }

  /** Drops every queued message (the stream closed, or trailers replace them). */
  clear(): void {
    this.messages.length = 0;
    this.sent = 0;
    this.pendingBytes = 0;
  }

  /** Copies the next `length` bytes (at most `pendingBytes`) into `buf` at `offset`. */
  copyTo(buf: Uint8Array, offset: number, length: number): void {
    let o = offset;
    let left = length;
    while (left > 0) {
      const message = this.messages[0]!;
      const size = message.length;
      // Prefix bytes: flags (1: compressed), then the u32 length.
      while (this.sent < MESSAGE_PREFIX_SIZE && left > 0) {
        buf[o++] =
          this.sent === 0
            ? this.compressed?.has(message)
              ? 1
              : 0
            : (size >>> (8 * (MESSAGE_PREFIX_SIZE - 1 - this.sent))) & 0xff;
        this.sent++;
        left--;
      }
      const head = this.sent - MESSAGE_PREFIX_SIZE;
      const take = Math.min(size - head, left);
      if (take > 0) {
        buf.set(take === size ? message : message.subarray(head, head + take), o);
        o += take;
        this.sent += take;
        left -= take;
      }
      if (this.sent === size + MESSAGE_PREFIX_SIZE) {
        this.messages.shift();
        this.sent = 0;
      }
    }
    this.pendingBytes -= length;
  }
}

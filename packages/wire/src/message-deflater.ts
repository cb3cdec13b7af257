import { compressMessage, type Compression } from "./compression.js";

/** Where a `MessageDeflater` hands messages, in order: the call's stream. */
export type FlaggedSink = (bytes: Uint8Array, compressed: boolean) => void;

/**
 * Outbound messages compressed with the call's encoding (those of at least `minBytes`), handed to
 * the sink in the order written. Compression is asynchronous: a message that needs none goes
 * straight through while nothing waits, otherwise behind the ones still compressing. The bytes
 * waiting count against `highWaterMark` (`write()` returns false at it; `onDrain` when below
 * again). Used by both sides: the server's responses, the client's requests.
 */
export class MessageDeflater {
  private chain: Promise<void> = Promise.resolve();
  private waitingBytes = 0;
  private blocked = false;
  private stopped = false;
  private failure: { error: unknown } | undefined;

  constructor(
    private readonly compression: Compression | undefined,
    private readonly minBytes: number,
    private readonly highWaterMark: number,
    private readonly sink: FlaggedSink,
    private readonly onDrain: () => void,
  ) {}

  /** Bytes written and not yet handed to the sink. */
  get waiting(): number {
    return this.waitingBytes;
  }

  /** False while `highWaterMark` bytes or more wait for compression. */
  get writable(): boolean {
    return this.waitingBytes < this.highWaterMark;
  }

  /**
   * Queues `message` (`compress` false: sent uncompressed whatever its size); false asks the
   * writer to wait for `onDrain`.
   */
  write(message: Uint8Array, compress = true): boolean {
    if (this.stopped) return false;
    const compression = compress ? this.compression : undefined;
    const minBytes = this.minBytes;
    if (this.waitingBytes === 0 && (compression === undefined || message.length < minBytes)) {
      this.sink(message, false);
      return true;
    }
    this.waitingBytes += message.length;
    this.chain = this.chain.then(async () => {
      try {
        // After a failed compression nothing more is sent: the call ends with an error (see `end`).
        if (this.failure !== undefined) return;
        const out = await compressMessage(compression, message, minBytes);
        if (!this.stopped) this.sink(out.bytes, out.compressed);
      } catch (error) {
        this.failure = { error };
      } finally {
        this.waitingBytes -= message.length;
        this.drained();
      }
    });
    if (this.waitingBytes < this.highWaterMark) return true;
    this.blocked = true;
    return false;
  }

  /**
   * Runs `then` once every message written so far went to the sink (at once when none waits),
   * or `failed` with the error if a compression failed.
   */
  end(then: () => void, failed: (error: unknown) => void): void {
    const finish = (): void => (this.failure === undefined ? then() : failed(this.failure.error));
    if (this.waitingBytes === 0) return finish();
    this.chain = this.chain.then(finish);
    this.chain.catch(() => undefined);
  }

  /** The call is over: nothing more goes to the sink. */
  stop(): void {
    this.stopped = true;
  }

  private drained(): void {
    if (!this.blocked || this.waitingBytes >= this.highWaterMark) return;
    this.blocked = false;
    this.onDrain();
  }
}

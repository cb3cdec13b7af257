import { decompressMessage, type Compression } from "./compression.js";
import { MessageError } from "./message.js";
import { Status } from "./status.js";

/** Where a `MessageInflater` takes received messages from: a stream that flags compressed ones. */
export interface FlaggedSource {
  read(): Uint8Array | undefined;
  /** Whether the message the last `read()` returned had the compressed flag. */
  readonly lastReadCompressed: boolean;
}

/** Plain messages an inflater holds ready: two, so that a second message on a unary call is seen. */
const READY_LIMIT = 2;

/**
 * Received messages in arrival order, compressed ones inflated with the call's encoding, one at a
 * time and under the size limit (a zip bomb fails RESOURCE_EXHAUSTED while inflating). Takes from
 * the source only while fewer than two plain messages wait, so flow-control credit still follows
 * the consumer's pace. Used by both sides: the server's compressing call stream, the client's calls.
 *
 * It never calls its owner back from `read()` or `fill()`: only when an inflation finished
 * (`onInflated`) or failed (`onError`, after which it takes nothing more).
 */
export class MessageInflater {
  private readonly ready: Uint8Array[] = [];
  /** Per ready message: whether it arrived compressed. */
  private readonly readyCompressed: boolean[] = [];
  private _inflating = false;
  private _lastReadCompressed = false;
  private stopped = false;

  constructor(
    private readonly source: FlaggedSource,
    /** The call's encoding; undefined: a compressed message fails INTERNAL. */
    private readonly compression: Compression | undefined,
    private readonly maxMessageSize: number,
    private readonly onInflated: () => void,
    private readonly onError: (error: MessageError) => void,
  ) {}

  /** Plain messages ready for `read()`. */
  get readableLength(): number {
    return this.ready.length;
  }

  /** A message is being inflated: more messages follow once it is done. */
  get inflating(): boolean {
    return this._inflating;
  }

  /** Whether the message the last `read()` returned arrived compressed. */
  get lastReadCompressed(): boolean {
    return this._lastReadCompressed;
  }

  /** The next message in order, plain, or undefined when none is ready yet. */
  read(): Uint8Array | undefined {
    if (this.ready.length === 0) this.fill();
    const message = this.ready.shift();
    if (message === undefined) return undefined;
    this._lastReadCompressed = this.readyCompressed.shift() === true;
    this.fill();
    return message;
  }

  /** Takes what the source has, up to the ready limit, starting the inflation of a compressed message. */
  fill(): void {
    while (!this._inflating && !this.stopped && this.ready.length < READY_LIMIT) {
      const bytes = this.source.read();
      if (bytes === undefined) return;
      if (!this.source.lastReadCompressed) {
        this.ready.push(bytes);
        this.readyCompressed.push(false);
        continue;
      }
      this._inflating = true;
      decompressMessage(this.compression, bytes, this.maxMessageSize).then(
        (plain) => {
          this._inflating = false;
          if (this.stopped) return;
          this.ready.push(plain);
          this.readyCompressed.push(true);
          this.fill();
          this.onInflated();
        },
        (error: unknown) => {
          this._inflating = false;
          if (this.stopped) return;
          this.stopped = true;
          this.onError(error instanceof MessageError ? error : new MessageError(Status.INTERNAL, String(error)));
        },
      );
      return;
    }
  }

  /** The call is over: drop what is ready and inflate nothing more. */
  stop(): void {
    this.stopped = true;
    this.ready.length = 0;
    this.readyCompressed.length = 0;
  }
}

import { ErrorCode } from "@grpc-ws/wire";

/**
 * Transparent retry (gRPC's gRFC A6): a call whose stream the server refused (RST_STREAM
 * REFUSED_STREAM) or that was above the last stream id of a GOAWAY was never seen by any handler,
 * so it is sent again on a new stream (a new connection after a GOAWAY) instead of failing with
 * UNAVAILABLE. A call that may have been seen (any other reset, a lost connection, a GOAWAY that
 * covered it) is never retried. The deadline and the signal keep running across attempts.
 */

/** Transparent retries per call after the first attempt: a server that keeps refusing fails the call. */
export const MAX_TRANSPARENT_RETRIES = 3;

/** Request bytes a streaming call keeps for a replay; a call that sent more before the server answered is no longer retried. */
export const REPLAY_LIMIT_BYTES = 64 * 1024;

/** Per call: the retries left and, for streaming calls, the request messages to send again. */
export class TransparentRetry {
  private retries = 0;
  private replay: Uint8Array[] | undefined = [];
  private replayBytes = 0;
  /** The kept messages that went compressed (allocated by the first). */
  private compressed: WeakSet<Uint8Array> | undefined;
  /** A retry waits for its new stream: what is sent meanwhile must be kept, whatever its size. */
  private pending = false;
  /** The request stream was half-closed on the current attempt. */
  ended = false;

  /** A request message went out on the current attempt (streaming calls: the unary request is kept by the call itself). */
  sent(message: Uint8Array, compressed = false): void {
    if (this.replay === undefined) return;
    this.replayBytes += message.length;
    if (this.replayBytes > REPLAY_LIMIT_BYTES && !this.pending) this.replay = undefined;
    else {
      this.replay.push(message);
      if (compressed) (this.compressed ??= new WeakSet()).add(message);
    }
  }

  /** The server answered on the stream (headers or trailers): it was seen, nothing will be replayed. */
  seen(): void {
    this.replay = undefined;
    this.retries = MAX_TRANSPARENT_RETRIES;
  }

  /** True when a reset with `code` proves the server never saw the stream and the call may go again. */
  shouldRetry(code: number): boolean {
    if (code !== ErrorCode.REFUSED_STREAM || this.replay === undefined || this.retries >= MAX_TRANSPARENT_RETRIES)
      return false;
    this.retries++;
    this.pending = true;
    return true;
  }

  /** The new stream is open: requests (with their compressed flag) to write on it before any new one, then whether to half-close. */
  replayed(): { messages: ReadonlyArray<readonly [Uint8Array, boolean]>; ended: boolean } {
    this.pending = false;
    const compressed = this.compressed;
    const messages = (this.replay ?? []).map((m) => [m, compressed?.has(m) === true] as const);
    return { messages, ended: this.ended };
  }
}

/** RST_STREAM frames of open streams a client may send in a burst, and per second after it, before the server closes the connection. */
export const RESET_BURST = 1000;
export const RESET_RATE_PER_S = 100;

/**
 * Opening and at once resetting streams costs the receiver work that MAX_CONCURRENT_STREAMS never
 * limits ("rapid reset", CVE-2023-44487): a token bucket caps the rate of resets received.
 */
export class ResetLimiter {
  private tokens: number;
  private refilledAt = Date.now();

  constructor(
    readonly burst = RESET_BURST,
    readonly ratePerS = RESET_RATE_PER_S,
  ) {
    this.tokens = burst;
  }

  /** Takes one token; false when the bucket is empty (the peer resets too fast). */
  charge(): boolean {
    const now = Date.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) * this.ratePerS) / 1000);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Why `charge()` returned false, for the GOAWAY. */
  describe(): string {
    return `more than ${this.burst} RST_STREAM frames at over ${this.ratePerS} per second`;
  }
}

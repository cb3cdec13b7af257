/**
 * Delays between the app's attempts to re-establish its streams: exponential with
 * jitter, capped. `wake()` ends the current wait early (the browser came back online,
 * or the user clicked "retry").
 */
export class Backoff {
  private attempt = 0;
  private wakeUp: (() => void) | undefined;

  constructor(
    private readonly initialMs = 250,
    private readonly maxMs = 4000,
  ) {}

  reset(): void {
    this.attempt = 0;
  }

  /** Waits for the next delay; resolves early on wake() or abort. */
  wait(signal: AbortSignal): Promise<void> {
    const base = Math.min(this.maxMs, this.initialMs * 2 ** this.attempt++);
    const ms = base * (0.8 + Math.random() * 0.4);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done);
      this.wakeUp = done;
    });
  }

  wake(): void {
    this.wakeUp?.();
  }
}

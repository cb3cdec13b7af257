import { unref } from "./timers.js";

export interface KeepaliveOptions {
  /** Send a PING after this long without receiving anything. 0 disables keepalive. */
  intervalMs: number;
  /** Declare the connection dead when the PING ack has not come back after this long. */
  timeoutMs: number;
}

/** Keepalive both sides use unless told otherwise: a PING after 30 s of silence, 10 s for its ack. */
export const DEFAULT_KEEPALIVE: Readonly<KeepaliveOptions> = Object.freeze({ intervalMs: 30_000, timeoutMs: 10_000 });

/**
 * Sends a PING after `intervalMs` without receiving anything and reports a dead peer when its ack
 * takes longer than `timeoutMs`. Its timers never keep a Node process alive.
 */
export class Keepalive {
  private lastReceive = Date.now();
  private outstanding = false;
  private tickTimer: ReturnType<typeof setTimeout> | undefined;
  private ackTimer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  /**
   * `onTick` runs on every check (at least once per `intervalMs`), before a PING is sent: the
   * session uses it to drop buffers an idle connection no longer needs.
   */
  constructor(
    private readonly options: KeepaliveOptions,
    private readonly sendPing: () => void,
    private readonly onTimeout: (message: string) => void,
    private readonly onTick?: () => void,
  ) {
    if (options.intervalMs > 0) this.arm(options.intervalMs);
  }

  /** Something arrived from the peer: the connection is alive. */
  received(): void {
    this.lastReceive = Date.now();
  }

  /** The PING ack arrived. */
  acked(): void {
    this.outstanding = false;
    clearTimeout(this.ackTimer);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.tickTimer);
    clearTimeout(this.ackTimer);
  }

  private arm(ms: number): void {
    this.tickTimer = setTimeout(() => this.tick(), ms);
    unref(this.tickTimer);
  }

  private tick(): void {
    if (this.stopped) return;
    this.onTick?.();
    const { intervalMs, timeoutMs } = this.options;
    const idle = Date.now() - this.lastReceive;
    if (idle >= intervalMs && !this.outstanding) {
      this.outstanding = true;
      this.sendPing();
      this.ackTimer = setTimeout(() => {
        if (this.outstanding && !this.stopped) this.onTimeout(`keepalive timeout: no PING ack within ${timeoutMs} ms`);
      }, timeoutMs);
      unref(this.ackTimer);
    }
    this.arm(Math.max(10, intervalMs - Math.min(idle, intervalMs)));
  }
}

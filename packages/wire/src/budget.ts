import { ErrorCode } from "./constants.js";
import { ProtocolError } from "./errors.js";

/** A token bucket: `burst` at once, then `perSecond`. */
export interface RateLimit {
  burst: number;
  perSecond: number;
}

/**
 * What a peer may make this side spend on one connection (docs/SECURITY.md, "Limits"). Rates are
 * token buckets; `queuedMessages` and `heldBytes` are levels. Exhausting any one is a connection
 * error ENHANCE_YOUR_CALM (close 1002).
 */
export interface Budgets {
  /** Server: request HEADERS that start a call (a handler or an upstream request). */
  streamStarts: RateLimit;
  /**
   * Resets in either direction that the peer caused: RST_STREAM it sent for an open stream
   * (rapid reset, CVE-2023-44487), and stream errors this side answered with RST_STREAM or error
   * trailers (DATA after END_STREAM, window overflow, oversize message: "MadeYouReset",
   * CVE-2025-8671).
   */
  resets: RateLimit;
  /** Server: HEADERS refused with REFUSED_STREAM (past MAX_CONCURRENT_STREAMS, or after GOAWAY). */
  refusedStreams: RateLimit;
  /** PINGs this side must answer (CVE-2019-9512). */
  pings: RateLimit;
  /** DATA frames with no payload and no END_STREAM (CVE-2019-9518). */
  emptyFrames: RateLimit;
  /** Empty WebSocket messages (CVE-2019-9518, one layer down). */
  emptyMessages: RateLimit;
  /** WINDOW_UPDATE frames (CVE-2019-9517-style churn; a 2^31-1 increment is a stream error, charged to `resets`). */
  windowUpdates: RateLimit;
  /** Metadata entries received in HEADERS and TRAILERS (CVE-2019-9516/9518-style: many tiny entries). */
  metadataEntries: RateLimit;
  /**
   * Received messages not yet taken by the application, all streams together. Per stream, flow
   * control already bounds them (at most 1.5 stream windows of 5-byte empty messages: 78643 with
   * the default 256 KiB window); this bounds their sum.
   */
  queuedMessages: number;
  /** Bytes held for the peer: queued messages (each with MESSAGE_OVERHEAD) plus buffers of messages being reassembled. */
  heldBytes: number;
}

export type RateBudget = { [K in keyof Budgets]: Budgets[K] extends RateLimit ? K : never }[keyof Budgets];
export type LevelBudget = "queuedMessages" | "heldBytes";

/** The rapid-reset bound (CVE-2023-44487): RST_STREAM frames for open streams in a burst, then per second. */
export const RESET_BURST = 1000;
export const RESET_RATE_PER_S = 100;

/** Memory a queued message costs beyond its bytes (its view, its slot), charged to `heldBytes` so that empty messages cannot amplify. */
export const MESSAGE_OVERHEAD = 96;

/** Defaults a busy legitimate client stays far below (docs/SECURITY.md gives the reasoning per row). */
export const DEFAULT_BUDGETS: Readonly<Budgets> = Object.freeze({
  streamStarts: Object.freeze({ burst: 20_000, perSecond: 10_000 }),
  resets: Object.freeze({ burst: RESET_BURST, perSecond: RESET_RATE_PER_S }),
  refusedStreams: Object.freeze({ burst: 200, perSecond: 20 }),
  pings: Object.freeze({ burst: 100, perSecond: 10 }),
  emptyFrames: Object.freeze({ burst: 1_000, perSecond: 100 }),
  emptyMessages: Object.freeze({ burst: 100, perSecond: 10 }),
  windowUpdates: Object.freeze({ burst: 50_000, perSecond: 50_000 }),
  metadataEntries: Object.freeze({ burst: 200_000, perSecond: 100_000 }),
  queuedMessages: 131_072,
  heldBytes: 64 * 1024 * 1024,
});

const RATE_NAMES: Record<RateBudget, string> = {
  streamStarts: "calls started",
  resets: "stream resets (sent by the peer or caused by it)",
  refusedStreams: "refused streams",
  pings: "PINGs",
  emptyFrames: "empty DATA frames",
  emptyMessages: "empty WebSocket messages",
  windowUpdates: "WINDOW_UPDATE frames",
  metadataEntries: "metadata entries",
};

/** Budgets with defaults for what `partial` leaves out; RangeError for a value that is not a positive number. */
export function resolveBudgets(partial: Partial<Budgets> = {}): Budgets {
  const out = { ...DEFAULT_BUDGETS } as Budgets;
  for (const key of Object.keys(DEFAULT_BUDGETS) as Array<keyof Budgets>) {
    const value = partial[key];
    if (value === undefined) continue;
    if (typeof value === "number") {
      if (!(value > 0)) throw new RangeError(`budgets.${key} must be a positive number (got ${value})`);
      (out as unknown as Record<string, number>)[key] = value;
    } else {
      const base = DEFAULT_BUDGETS[key] as RateLimit;
      const limit = { burst: value.burst ?? base.burst, perSecond: value.perSecond ?? base.perSecond };
      if (!(limit.burst >= 1) || !(limit.perSecond >= 0))
        throw new RangeError(`budgets.${key} needs burst >= 1 and perSecond >= 0`);
      (out as unknown as Record<string, RateLimit>)[key] = limit;
    }
  }
  return out;
}

class Bucket {
  private tokens: number;
  private refilledAt = Date.now();
  constructor(readonly limit: RateLimit) {
    this.tokens = limit.burst;
  }
  take(n: number): boolean {
    if (this.tokens < n) {
      const now = Date.now();
      this.tokens = Math.min(this.limit.burst, this.tokens + ((now - this.refilledAt) * this.limit.perSecond) / 1000);
      this.refilledAt = now;
      if (this.tokens < n) return false;
    }
    this.tokens -= n;
    return true;
  }
}

/**
 * The cost model of one connection: every resource a peer can make this side spend is charged
 * here. `charge`/`hold` throw a ProtocolError ENHANCE_YOUR_CALM (a connection error) when a budget
 * is exhausted; the session answers it with GOAWAY.
 */
export class ConnectionBudget {
  readonly limits: Budgets;
  private readonly buckets = new Map<RateBudget, Bucket>();
  private readonly levels: Record<LevelBudget, number> = { queuedMessages: 0, heldBytes: 0 };

  constructor(limits: Partial<Budgets> = {}) {
    this.limits = resolveBudgets(limits);
  }

  /** Charges `n` to a rate budget. */
  charge(kind: RateBudget, n = 1): void {
    let bucket = this.buckets.get(kind);
    if (!bucket) this.buckets.set(kind, (bucket = new Bucket(this.limits[kind])));
    if (!bucket.take(n)) {
      const { burst, perSecond } = this.limits[kind];
      throw new ProtocolError(
        ErrorCode.ENHANCE_YOUR_CALM,
        `too many ${RATE_NAMES[kind]}: more than ${burst} at once or ${perSecond} per second`,
      );
    }
  }

  /** Adds `n` to a level budget (negative `n` releases). */
  hold(kind: LevelBudget, n: number): void {
    const level = (this.levels[kind] += n);
    if (n > 0 && level > this.limits[kind]) {
      throw new ProtocolError(
        ErrorCode.ENHANCE_YOUR_CALM,
        `${kind === "heldBytes" ? "bytes held" : "queued messages"} above the limit of ${this.limits[kind]}`,
      );
    }
  }

  /** The current level of a level budget. */
  level(kind: LevelBudget): number {
    return this.levels[kind];
  }
}

/** One benchmark case: `batch()` does a fixed amount of work and returns a value the JIT cannot drop. */
export interface Case {
  name: string;
  /** Frames (or frame-equivalents of copied bytes) one `batch()` handles. */
  opsPerBatch: number;
  /** Wire bytes (headers + payloads) one `batch()` handles. */
  bytesPerBatch: number;
  batch: () => number;
}

export interface Timing {
  /** Median over the samples. */
  opsPerSec: number;
  bytesPerSec: number;
  samples: number[];
}

export interface MeasureOptions {
  warmupMs: number;
  sampleMs: number;
  samples: number;
  /** Hard cap on batches per sample, so a loop ends even if the clock misbehaves. */
  maxBatches: number;
}

let blackhole = 0;
/** Read at the end so results of `batch()` stay observable. */
export const consumed = (): number => blackhole;

// Runs batches for about `ms` (and at most `maxBatches`); returns batches per second.
function sample(c: Case, ms: number, maxBatches: number): number {
  let n = 0;
  let acc = 0;
  const t0 = performance.now();
  let t = t0;
  while (n < maxBatches) {
    acc += c.batch();
    n++;
    t = performance.now();
    if (t - t0 >= ms) break;
  }
  blackhole = (blackhole + acc) | 0;
  return (n * 1000) / (t - t0);
}

/** The median (the mean of the middle two for an even count). */
export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * Warms every case up, then samples the cases round-robin (so a noisy neighbour slows all of
 * them rather than one) and takes each case's median.
 */
export function measureAll(cases: Case[], o: MeasureOptions): Map<Case, Timing> {
  for (const c of cases) sample(c, o.warmupMs, o.maxBatches);
  const rates = new Map<Case, number[]>(cases.map((c) => [c, []]));
  for (let round = 0; round < o.samples; round++) {
    for (const c of cases) rates.get(c)!.push(sample(c, o.sampleMs, o.maxBatches));
  }
  const out = new Map<Case, Timing>();
  for (const c of cases) {
    const batches = median(rates.get(c)!);
    out.set(c, {
      opsPerSec: batches * c.opsPerBatch,
      bytesPerSec: batches * c.bytesPerBatch,
      samples: rates.get(c)!.map((r) => r * c.opsPerBatch),
    });
  }
  return out;
}

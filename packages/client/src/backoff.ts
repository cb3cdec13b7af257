import type { ReconnectOptions } from "./options.js";

/**
 * Delay before the next connection attempt after `failures` consecutive failed ones (>= 1):
 * `initialDelayMs * multiplier^(failures-1)`, capped at `maxDelayMs`, randomized by +-`jitter`.
 */
export function backoffDelay(options: ReconnectOptions, failures: number, random: () => number = Math.random): number {
  const base = Math.min(
    options.initialDelayMs * Math.pow(options.multiplier, Math.max(0, failures - 1)),
    options.maxDelayMs,
  );
  const jittered = base * (1 + options.jitter * (random() * 2 - 1));
  return Math.max(0, Math.round(jittered));
}

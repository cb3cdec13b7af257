import { DEFAULT_KEEPALIVE, type KeepaliveOptions } from "./keepalive.js";
import { MAX_TIMER_MS } from "./timers.js";

/**
 * `defaults` overridden by the fields of `partial` that are not undefined (so that
 * `{ intervalMs: undefined }` from plain JavaScript keeps the default instead of becoming NaN).
 */
export function withDefaults<T extends object>(defaults: Readonly<T>, partial: Partial<T> | undefined): T {
  const result = { ...defaults } as T;
  if (partial)
    for (const key of Object.keys(partial) as Array<keyof T>)
      if (partial[key] !== undefined) result[key] = partial[key] as T[keyof T];
  return result;
}

/** Throws RangeError unless `value` is a number in [min, max]: NaN or out-of-range timers would fire at once or never. */
export function checkRange(name: string, value: number, min: number, max = MAX_TIMER_MS): void {
  if (!(typeof value === "number" && value >= min && value <= max)) {
    throw new RangeError(`grpc-ws: ${name} must be a number from ${min} to ${max}, got ${String(value)}`);
  }
}

/** The keepalive option of either side: `false` turns it off, missing fields take `DEFAULT_KEEPALIVE`. Throws RangeError. */
export function resolveKeepalive(option: Partial<KeepaliveOptions> | false | undefined): KeepaliveOptions | undefined {
  if (option === false) return undefined;
  const keepalive = withDefaults(DEFAULT_KEEPALIVE, option);
  checkRange("keepalive.intervalMs", keepalive.intervalMs, 0);
  checkRange("keepalive.timeoutMs", keepalive.timeoutMs, 1);
  return keepalive;
}

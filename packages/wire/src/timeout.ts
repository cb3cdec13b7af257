const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** Parses a `grpc-timeout` value (1-8 digits and a unit H M S m u n) to milliseconds; undefined if invalid. */
export function parseTimeout(value: string): number | undefined {
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (!match) return undefined;
  return Number(match[1]) * UNIT_MS[match[2]!]!;
}

/** Formats milliseconds as a `grpc-timeout` value, in the finest unit that fits 8 digits, rounded up. */
export function formatTimeout(ms: number): string {
  if (!(ms > 0)) return "0n";
  if (ms < 1 || !Number.isInteger(ms)) {
    const us = Math.ceil(ms * 1000);
    if (us < 1e8) return `${us}u`;
  }
  for (const unit of ["m", "S", "M", "H"] as const) {
    const value = Math.ceil(ms / UNIT_MS[unit]!);
    if (value < 1e8) return `${value}${unit}`;
  }
  return "99999999H";
}

// Message ids double as resume positions: "<ms>-<seq>", the form of Redis stream ids (the
// in-memory backplane makes ids of the same form). Both sides order them the same way.

/** Orders "<ms>-<seq>" positions (Redis stream ids) numerically. */
export function compareStreamIds(a: string, b: string): number {
  const [am = "0", as = "0"] = a.split("-");
  const [bm = "0", bs = "0"] = b.split("-");
  const ms = BigInt(am) - BigInt(bm);
  if (ms !== 0n) return ms < 0n ? -1 : 1;
  const seq = BigInt(as) - BigInt(bs);
  return seq === 0n ? 0 : seq < 0n ? -1 : 1;
}

/** Whether `s` has the form of a position (a client-supplied one is checked before use). */
export function isStreamId(s: string): boolean {
  return /^\d{1,20}-\d{1,20}$/.test(s);
}

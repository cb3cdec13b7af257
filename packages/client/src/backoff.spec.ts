import { describe, expect, it } from "vitest";
import { backoffDelay } from "./backoff.js";
import { DEFAULT_RECONNECT } from "./options.js";

describe("backoffDelay", () => {
  const options = { initialDelayMs: 100, maxDelayMs: 1000, multiplier: 2, jitter: 0.5 };

  it("grows exponentially up to the cap", () => {
    const mid = () => 0.5; // no jitter
    expect([1, 2, 3, 4, 5, 10].map((n) => backoffDelay(options, n, mid))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it("randomizes within +- jitter", () => {
    expect(backoffDelay(options, 2, () => 0)).toBe(100);
    expect(backoffDelay(options, 2, () => 0.999999)).toBe(300);
  });

  it("has gRPC-like defaults", () => {
    expect(backoffDelay(DEFAULT_RECONNECT, 1, () => 0.5)).toBe(1000);
    expect(backoffDelay(DEFAULT_RECONNECT, 100, () => 0.5)).toBe(30_000);
  });
});

import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { formatTimeout, parseTimeout } from "./timeout.js";

describe("grpc-timeout", () => {
  test("formatTimeout picks the finest unit that fits 8 digits, rounding up", () => {
    expect(formatTimeout(1)).toBe("1m");
    expect(formatTimeout(1500)).toBe("1500m");
    expect(formatTimeout(0.5)).toBe("500u");
    expect(formatTimeout(1.0005)).toBe("1001u");
    expect(formatTimeout(99_999_999)).toBe("99999999m");
    expect(formatTimeout(100_000_000)).toBe("100000S");
    expect(formatTimeout(100_000_000_001)).toBe("1666667M");
    expect(formatTimeout(1e14)).toBe("27777778H");
    expect(formatTimeout(1e15)).toBe("99999999H");
    expect(formatTimeout(0)).toBe("0n");
    expect(formatTimeout(-5)).toBe("0n");
    expect(formatTimeout(Number.NaN)).toBe("0n");
    expect(formatTimeout(Number.POSITIVE_INFINITY)).toBe("99999999H");
  });

  test("a formatted timeout parses back to at least the original, never much more", () => {
    fc.assert(
      fc.property(fc.double({ min: 0.001, max: 1e12, noNaN: true }), (ms) => {
        const value = formatTimeout(ms);
        expect(value).toMatch(/^\d{1,8}[HMSmun]$/);
        const back = parseTimeout(value)!;
        expect(back).toBeGreaterThanOrEqual(ms * (1 - 1e-12));
        // Rounding up costs at most one unit of the unit chosen.
        const unit = parseTimeout(`1${value.slice(-1)}`)!;
        expect(back - ms).toBeLessThanOrEqual(unit * (1 + 1e-9));
      }),
      { numRuns: 500 },
    );
  });

  test("parseTimeout", () => {
    expect(parseTimeout("5S")).toBe(5000);
    expect(parseTimeout("12345678m")).toBe(12345678);
    expect(parseTimeout("123456789m")).toBeUndefined();
    expect(parseTimeout("5")).toBeUndefined();
  });
});

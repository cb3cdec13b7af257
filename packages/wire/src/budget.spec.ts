import { describe, expect, test } from "vitest";
import { ConnectionBudget, DEFAULT_BUDGETS, resolveBudgets } from "./budget.js";
import { ErrorCode } from "./constants.js";
import { ProtocolError } from "./errors.js";

function calmError(fn: () => void): ProtocolError | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof ProtocolError) return e;
    throw e;
  }
  return undefined;
}

describe("ConnectionBudget", () => {
  test("a rate budget allows its burst, then throws ENHANCE_YOUR_CALM naming what ran out", () => {
    const budget = new ConnectionBudget({ pings: { burst: 3, perSecond: 0 } });
    for (let i = 0; i < 3; i++) budget.charge("pings");
    const error = calmError(() => budget.charge("pings"));
    expect(error?.code).toBe(ErrorCode.ENHANCE_YOUR_CALM);
    expect(error?.message).toContain("PINGs");
  });

  test("a rate budget refills at its rate", async () => {
    const budget = new ConnectionBudget({ emptyMessages: { burst: 1, perSecond: 100 } });
    budget.charge("emptyMessages");
    expect(calmError(() => budget.charge("emptyMessages"))).toBeDefined();
    await new Promise((r) => setTimeout(r, 50));
    expect(calmError(() => budget.charge("emptyMessages"))).toBeUndefined();
  });

  test("a level budget throws past its limit and is released by negative holds", () => {
    const budget = new ConnectionBudget({ heldBytes: 100 });
    budget.hold("heldBytes", 60);
    budget.hold("heldBytes", -30);
    budget.hold("heldBytes", 70);
    expect(budget.level("heldBytes")).toBe(100);
    expect(calmError(() => budget.hold("heldBytes", 1))?.code).toBe(ErrorCode.ENHANCE_YOUR_CALM);
  });

  test("defaults fill in; invalid values throw RangeError", () => {
    expect(resolveBudgets({ pings: { burst: 5, perSecond: 1 } }).resets).toEqual(DEFAULT_BUDGETS.resets);
    expect(() => resolveBudgets({ heldBytes: 0 })).toThrow(RangeError);
    expect(() => resolveBudgets({ pings: { burst: 0, perSecond: 1 } })).toThrow(RangeError);
  });
});

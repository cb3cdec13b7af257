import { afterEach, expect, test, vi } from "vitest";
import { MAX_TIMER_MS, setDeadline } from "./timers.js";

afterEach(() => void vi.useRealTimers());

test("a deadline beyond setTimeout's range fires when it is due, not at once", () => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
  let fired = 0;
  setDeadline(2 * MAX_TIMER_MS + 5, () => fired++);
  vi.advanceTimersByTime(1);
  expect(fired).toBe(0);
  vi.advanceTimersByTime(2 * MAX_TIMER_MS);
  expect(fired).toBe(0);
  vi.advanceTimersByTime(4);
  expect(fired).toBe(1);
});

test("cancel stops it, also between steps", () => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
  let fired = 0;
  const cancelShort = setDeadline(10, () => fired++);
  const cancelLong = setDeadline(MAX_TIMER_MS + 10, () => fired++);
  cancelShort();
  vi.advanceTimersByTime(MAX_TIMER_MS);
  cancelLong();
  vi.advanceTimersByTime(100);
  expect(fired).toBe(0);
});

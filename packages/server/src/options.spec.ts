// The bridge reads its options in one place and, like the client, refuses bad numbers at once.
import { expect, test } from "vitest";
import { createWebSocketBridge } from "./index.js";

test.each([
  [{ keepalive: { intervalMs: Number.NaN, timeoutMs: 10_000 } }, "keepalive.intervalMs"],
  [{ keepalive: { intervalMs: 1000, timeoutMs: 0 } }, "keepalive.timeoutMs"],
  [{ settingsTimeoutMs: Number.NaN }, "settingsTimeoutMs"],
  [{ settingsTimeoutMs: -1 }, "settingsTimeoutMs"],
  [{ drainTimeoutMs: Number.POSITIVE_INFINITY }, "drainTimeoutMs"],
  [{ writeHighWaterMark: 0 }, "writeHighWaterMark"],
  [{ socketHighWaterMark: Number.NaN }, "socketHighWaterMark"],
  [{ maxPayload: -5 }, "maxPayload"],
])("%o is a RangeError naming %s", (options, name) => {
  expect(() => createWebSocketBridge(options)).toThrow(RangeError);
  expect(() => createWebSocketBridge(options)).toThrow(name);
});

test("keepalive fields left undefined keep their defaults; false and 0 turn keepalive off without an error", async () => {
  for (const keepalive of [
    { intervalMs: undefined as unknown as number, timeoutMs: 5000 },
    false as const,
    { intervalMs: 0, timeoutMs: 1 },
  ]) {
    const bridge = createWebSocketBridge({ keepalive });
    await bridge.close();
  }
});

test("close({ drainTimeoutMs: NaN }) rejects with a RangeError", async () => {
  const bridge = createWebSocketBridge({});
  await expect(bridge.close({ drainTimeoutMs: Number.NaN })).rejects.toThrow(RangeError);
  await bridge.close();
});

import { describe, expect, test } from "vitest";
import { ErrorCode, MAX_FRAME_SIZE_LIMIT } from "./constants.js";
import { ProtocolError } from "./errors.js";
import { DEFAULT_SETTINGS, MIN_FRAME_SIZE, readSettings, resolveSettings } from "./settings.js";

function payload(entries: Array<[number, number]>): Uint8Array {
  const b = new Uint8Array(entries.length * 6);
  const v = new DataView(b.buffer);
  entries.forEach(([id, value], i) => {
    v.setUint16(i * 6, id);
    v.setUint32(i * 6 + 2, value);
  });
  return b;
}

describe("settings", () => {
  test("resolveSettings fills defaults and refuses local misconfiguration", () => {
    expect(resolveSettings()).toEqual(DEFAULT_SETTINGS);
    expect(resolveSettings({ maxConcurrentStreams: 3 }).maxConcurrentStreams).toBe(3);
    expect(() => resolveSettings({ maxFrameSize: MIN_FRAME_SIZE - 1 })).toThrow(RangeError);
    expect(() => resolveSettings({ maxFrameSize: MAX_FRAME_SIZE_LIMIT + 1 })).toThrow(RangeError);
    expect(() => resolveSettings({ initialStreamWindow: 0 })).toThrow(RangeError);
    expect(() => resolveSettings({ initialConnectionWindow: 2 ** 31 })).toThrow(RangeError);
    expect(() => resolveSettings({ maxMessageSize: 1.5 })).toThrow(RangeError);
    expect(() => resolveSettings({ maxMetadataSize: -1 })).toThrow(RangeError);
    expect(() => resolveSettings({ maxConcurrentStreams: 2 ** 32 })).toThrow(RangeError);
  });

  test("readSettings applies entries at an offset over the defaults", () => {
    const inner = payload([
      [5, 99],
      [6, 1],
    ]);
    const buf = new Uint8Array(inner.length + 3);
    buf.set(inner, 3);
    expect(readSettings(buf, 3, inner.length)).toEqual({ ...DEFAULT_SETTINGS, maxMessageSize: 99, maxMetadataSize: 1 });
  });

  test("out-of-range values are connection errors with the HTTP/2 codes", () => {
    const code = (entries: Array<[number, number]>) => {
      try {
        readSettings(payload(entries), 0, entries.length * 6);
      } catch (e) {
        expect(e).toBeInstanceOf(ProtocolError);
        return (e as ProtocolError).code;
      }
      return undefined;
    };
    expect(code([[1, 0]])).toBe(ErrorCode.FLOW_CONTROL_ERROR);
    expect(code([[2, 2 ** 31]])).toBe(ErrorCode.FLOW_CONTROL_ERROR);
    expect(code([[4, 100]])).toBe(ErrorCode.PROTOCOL_ERROR);
    expect(code([[4, 2 ** 24]])).toBe(ErrorCode.PROTOCOL_ERROR);
    expect(
      code([
        [3, 0],
        [5, 0],
        [6, 0],
        [42, 0],
      ]),
    ).toBeUndefined();
  });
});

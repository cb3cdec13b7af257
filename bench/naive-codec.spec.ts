// The benchmark's baseline must be a real codec, or its ratios mean nothing.
import { describe, expect, test } from "vitest";
import { FrameReader, FrameWriter } from "@grpc-ws/wire";
import { NaiveWriter, naiveDecode } from "./naive-codec.js";

const payloadOf = (size: number, seed: number): Uint8Array =>
  Uint8Array.from({ length: size }, (_, i) => (i * 31 + seed) & 0xff);
const frames = [
  { streamId: 1, payload: payloadOf(100, 1), end: false },
  { streamId: 3, payload: payloadOf(0, 2), end: true },
  { streamId: 0x7fffffff, payload: payloadOf(70_000, 3), end: false },
  { streamId: 5, payload: payloadOf(1, 4), end: true },
];

interface Writer {
  data(streamId: number, payload: Uint8Array, endStream: boolean): void;
  flush(): void;
}

function encode(write: (w: Writer) => void, make: (sink: (m: Uint8Array) => void) => Writer): Uint8Array[] {
  const out: Uint8Array[] = [];
  write(make((m) => out.push(m.slice())));
  return out;
}

describe("naive baseline codec", () => {
  const writeAll = (w: Writer): void => {
    for (const f of frames.slice(0, 2)) w.data(f.streamId, f.payload, f.end);
    w.flush();
    for (const f of frames.slice(2)) w.data(f.streamId, f.payload, f.end);
    w.flush();
  };

  test("NaiveWriter writes the same messages as FrameWriter", () => {
    const naive = encode(writeAll, (sink) => new NaiveWriter(sink));
    const ours = encode(writeAll, (sink) => new FrameWriter(sink, { schedule: () => {} }));
    expect(naive.length).toBe(2);
    expect(naive).toEqual(ours);
  });

  test("naiveDecode reads what FrameReader reads, into copies", () => {
    const [first, second] = encode(writeAll, (sink) => new NaiveWriter(sink));
    expect(naiveDecode(first!, 1 << 20).map((f) => f.streamId)).toEqual([1, 3]);
    expect(naiveDecode(second!, 1 << 20).map((f) => f.payload.length)).toEqual([70_000, 1]);
    for (const message of [first!, second!]) {
      const decoded = naiveDecode(message, 1 << 20);
      const reader = new FrameReader(1 << 20).reset(message);
      const expected = [];
      while (reader.next()) {
        expected.push({
          type: reader.type,
          flags: reader.flags,
          streamId: reader.streamId,
          payload: reader.payload.slice(),
        });
      }
      expect(decoded).toEqual(expected);
      message.fill(0xee);
      expect(decoded.map((f) => f.payload)).toEqual(expected.map((f) => f.payload));
    }
  });

  test("naiveDecode rejects truncated and oversize frames", () => {
    const [message] = encode(
      (w) => {
        w.data(1, payloadOf(100, 5), false);
        w.flush();
      },
      (sink) => new NaiveWriter(sink),
    );
    expect(() => naiveDecode(message!.subarray(0, 5), 1000)).toThrow(/truncated frame header/);
    expect(() => naiveDecode(message!.subarray(0, 50), 1000)).toThrow(/truncated frame payload/);
    expect(() => naiveDecode(message!, 99)).toThrow(/exceeds 99/);
  });
});

import { describe, expect, test } from "vitest";
import { FrameReader } from "./frame-reader.js";
import { FrameWriter } from "./frame-writer.js";

// A writer whose flushes the test drives by hand.
function manual(sinkCopies: boolean, slabSize = 1024) {
  const sent: Array<{ message: Uint8Array; copy: Uint8Array; release: () => void }> = [];
  const writer = new FrameWriter((message, release) => sent.push({ message, copy: message.slice(), release }), {
    schedule: () => {},
    slabSize,
    sinkCopies,
  });
  return { writer, sent };
}

function payloads(message: Uint8Array): number[] {
  const r = new FrameReader().reset(message);
  const out: number[] = [];
  while (r.next()) out.push(r.payload[0]!);
  return out;
}

describe("FrameWriter memory reuse", () => {
  test("bytes the sink still holds are never overwritten, however many frames follow", () => {
    const { writer, sent } = manual(false);
    for (let i = 0; i < 200; i++) {
      writer.data(1, new Uint8Array(100).fill(i));
      if (i % 3 === 2) writer.flush();
    }
    writer.flush();
    for (const { message, copy } of sent) expect(message).toEqual(copy);
    expect(sent.flatMap((s) => payloads(s.message))).toEqual(Array.from({ length: 200 }, (_, i) => i));
  });

  test("once every message of a slab is released, the writer starts over in the same memory", () => {
    const { writer, sent } = manual(false);
    writer.data(1, new Uint8Array(100).fill(1));
    writer.flush();
    const first = sent[0]!;
    writer.data(1, new Uint8Array(100).fill(2));
    writer.flush();
    const second = sent[1]!;
    // Not released yet: the second message follows the first in the slab.
    expect(second.message.byteOffset).toBe(first.message.byteOffset + first.message.length);
    first.release();
    second.release();
    second.release(); // a second call is harmless
    writer.data(1, new Uint8Array(100).fill(3));
    writer.flush();
    const third = sent[2]!;
    expect(third.message.buffer).toBe(first.message.buffer);
    expect(third.message.byteOffset).toBe(first.message.byteOffset);
    expect(payloads(third.message)).toEqual([3]);
  });

  test("a released earlier slab is reused when the writer needs a new one", () => {
    const { writer, sent } = manual(false, 256);
    writer.data(1, new Uint8Array(200).fill(1));
    writer.flush();
    writer.data(1, new Uint8Array(200).fill(2)); // does not fit: a new slab
    writer.flush();
    expect(sent[1]!.message.buffer).not.toBe(sent[0]!.message.buffer);
    sent[0]!.release(); // the first slab is now free
    writer.data(1, new Uint8Array(200).fill(3)); // does not fit beside the unreleased second message
    writer.flush();
    expect(sent[2]!.message.buffer).toBe(sent[0]!.message.buffer);
    expect(payloads(sent[1]!.message)).toEqual([2]);
    expect(payloads(sent[2]!.message)).toEqual([3]);
  });

  test("a sink that never releases still gets correct bytes (fresh memory each time)", () => {
    const { writer, sent } = manual(false, 256);
    for (let i = 0; i < 50; i++) {
      writer.data(1, new Uint8Array(200).fill(i));
      writer.flush();
    }
    for (const [i, { message, copy }] of sent.entries()) {
      expect(message).toEqual(copy);
      expect(payloads(message)).toEqual([i]);
    }
  });

  test("a copying sink gets the same slab every time", () => {
    const { writer, sent } = manual(true);
    for (let i = 0; i < 3; i++) {
      writer.data(1, new Uint8Array(100).fill(i));
      writer.flush();
    }
    expect(new Set(sent.map((s) => s.message.buffer)).size).toBe(1);
    expect(sent.map((s) => payloads(s.copy))).toEqual([[0], [1], [2]]);
  });
});

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
    const { writer, sent } = manual(false, 1024);
    const send = (fill: number) => {
      writer.data(1, new Uint8Array(400).fill(fill)); // 409 bytes: two fit in a slab
      writer.flush();
    };
    send(1);
    send(2);
    send(3); // does not fit beside the two unreleased messages: slab B
    expect(sent[2]!.message.buffer).not.toBe(sent[0]!.message.buffer);
    sent[0]!.release();
    sent[1]!.release(); // slab A is free now
    send(4);
    send(5); // B is full again: the writer takes A back instead of allocating
    expect(sent[4]!.message.buffer).toBe(sent[0]!.message.buffer);
    expect(sent.map((m) => payloads(m.copy))).toEqual([[1], [2], [3], [4], [5]]);
    // Unreleased messages are intact in place; released ones may have been overwritten.
    expect([2, 3, 4].map((i) => payloads(sent[i]!.message))).toEqual([[3], [4], [5]]);
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

  test("slabs grow to the bursts written: a burst larger than the initial slab is written in place", () => {
    let held: (() => void) | undefined;
    const moved: boolean[] = [];
    let firstFrameIn: ArrayBufferLike | undefined;
    const writer = new FrameWriter(
      (message, release) => {
        moved.push(message.buffer !== firstFrameIn);
        held?.(); // released once the next message arrives, as ws does once it has written it
        held = release;
      },
      { schedule: () => {}, slabSize: 64 * 1024 },
    );
    const payload = new Uint8Array(16 * 1024);
    for (let burst = 0; burst < 10; burst++) {
      writer.data(1, payload);
      firstFrameIn = writer.buf.buffer;
      for (let i = 1; i < 16; i++) writer.data(1, payload);
      writer.flush();
    }
    // The first bursts outgrow the 64 KiB slab and move; once the writer has seen one, none does.
    expect(moved[0]).toBe(true);
    expect(moved.slice(2)).toEqual(Array(8).fill(false));
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

describe("FrameWriter memory when idle", () => {
  const sinkKeeping = () => {
    const sent: Array<{ message: Uint8Array; copy: Uint8Array; release: () => void }> = [];
    const writer = new FrameWriter((message, release) => sent.push({ message, copy: message.slice(), release }), {
      schedule: () => {},
    });
    return { writer, sent };
  };

  test("a writer that has written nothing holds no buffer; the first slab is small", () => {
    const { writer, sent } = sinkKeeping();
    expect(writer.buf.length).toBe(0);
    writer.data(1, new Uint8Array(100).fill(7));
    writer.flush();
    expect(writer.buf.length).toBe(4096);
    expect(payloads(sent[0]!.message)).toEqual([7]);
  });

  test("slabs grow with the bursts written and every message keeps its bytes", () => {
    const { writer, sent } = sinkKeeping();
    for (let burst = 0; burst < 4; burst++) {
      for (let i = 0; i < 10; i++) writer.data(1, new Uint8Array(16 * 1024).fill(burst * 10 + i));
      writer.flush();
    }
    expect(writer.buf.length).toBeGreaterThanOrEqual(2 * 10 * (16 * 1024 + 9));
    // Buffer.compare: a deep toEqual of 160 KiB arrays is slow on a loaded machine.
    for (const { message, copy } of sent) expect(Buffer.compare(message, copy)).toBe(0);
    expect(sent.flatMap((s) => payloads(s.message))).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });

  test("trim() lets go of the slab only when nothing is pending or held, and writing goes on after it", () => {
    const { writer, sent } = sinkKeeping();
    writer.data(1, new Uint8Array(100).fill(1));
    expect(writer.trim()).toBe(false); // pending
    writer.flush();
    expect(writer.trim()).toBe(false); // the sink holds the message
    expect(sent[0]!.copy).toEqual(sent[0]!.message);
    sent[0]!.release();
    expect(writer.trim()).toBe(true);
    expect(writer.buf.length).toBe(0);
    writer.data(3, new Uint8Array(200).fill(2));
    writer.flush();
    expect(payloads(sent[1]!.message)).toEqual([2]);
    expect(sent[0]!.message).toEqual(sent[0]!.copy);
  });

  test("after trim() a writer that was busy starts again with a first-size slab", () => {
    const writer = new FrameWriter(() => {}, { schedule: () => {}, sinkCopies: true });
    for (let i = 0; i < 4; i++) writer.data(1, new Uint8Array(30 * 1024));
    writer.flush();
    expect(writer.capacity).toBeGreaterThanOrEqual(64 * 1024);
    expect(writer.trim()).toBe(true);
    expect(writer.capacity).toBe(0);
    writer.ping(new Uint8Array(8), false);
    writer.flush();
    expect(writer.capacity).toBe(4 * 1024);
  });

  test("with a copying sink, trim() after a flush lets go of the slab at once", () => {
    const out: Uint8Array[] = [];
    const writer = new FrameWriter((m) => out.push(m.slice()), { schedule: () => {}, sinkCopies: true });
    writer.data(1, new Uint8Array(10).fill(5));
    writer.flush();
    expect(writer.trim()).toBe(true);
    expect(writer.buf.length).toBe(0);
    writer.data(1, new Uint8Array(10).fill(6));
    writer.flush();
    expect(out.map(payloads)).toEqual([[5], [6]]);
  });
});

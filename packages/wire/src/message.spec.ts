import { describe, expect, test } from "vitest";
import { MESSAGE_PREFIX_SIZE, MessageError, MessageReader, writeMessagePrefix } from "./message.js";
import { Status } from "./status.js";

function stream(messages: Uint8Array[]): Uint8Array {
  const total = messages.reduce((n, m) => n + MESSAGE_PREFIX_SIZE + m.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const m of messages) {
    writeMessagePrefix(out, o, m.length);
    out.set(m, o + MESSAGE_PREFIX_SIZE);
    o += MESSAGE_PREFIX_SIZE + m.length;
  }
  return out;
}

const bytes = (n: number, seed: number) => new Uint8Array(n).map((_, i) => (i * 31 + seed) & 0xff);

describe("MessageReader", () => {
  const messages = [bytes(0, 1), bytes(1, 2), bytes(7, 3), bytes(300, 4), bytes(0, 5)];
  const whole = stream(messages);

  test("prefix layout: flags 0, u32 big-endian length", () => {
    const b = new Uint8Array(5);
    writeMessagePrefix(b, 0, 0x01020304);
    expect([...b]).toEqual([0, 1, 2, 3, 4]);
  });

  test("any split into two chunks, at every byte offset, yields the same messages", () => {
    for (let cut = 0; cut <= whole.length; cut++) {
      const reader = new MessageReader(1000);
      const got: Uint8Array[] = [];
      reader.push(whole.subarray(0, cut), (m) => got.push(m.slice()));
      reader.push(whole.subarray(cut), (m) => got.push(m.slice()));
      expect(got, `cut at ${cut}`).toEqual(messages);
      expect(reader.partial).toBe(0);
    }
  });

  test("one byte per chunk yields the same messages, and partial counts the bytes held", () => {
    const reader = new MessageReader(1000);
    const got: Uint8Array[] = [];
    const partials: number[] = [];
    for (let i = 0; i < whole.length; i++) {
      reader.push(whole.subarray(i, i + 1), (m) => got.push(m.slice()));
      partials.push(reader.partial);
    }
    expect(got).toEqual(messages);
    expect(Math.max(...partials)).toBe(MESSAGE_PREFIX_SIZE + 299);
    expect(partials.at(-1)).toBe(0);
  });

  test("a message inside one chunk is a view, a spanning one a copy of exactly its size", () => {
    const reader = new MessageReader(1000);
    const got: Uint8Array[] = [];
    const one = stream([bytes(10, 9)]);
    reader.push(one, (m) => got.push(m));
    expect(got[0]!.buffer).toBe(one.buffer);
    reader.push(one.subarray(0, 8), (m) => got.push(m));
    reader.push(one.subarray(8), (m) => got.push(m));
    expect(got[1]!.buffer).not.toBe(one.buffer);
    expect(got[1]!.buffer.byteLength).toBe(10);
    expect(got[1]).toEqual(got[0]);
  });

  test("oversize is RESOURCE_EXHAUSTED before the body is buffered", () => {
    const reader = new MessageReader(4);
    const prefix = new Uint8Array(5);
    writeMessagePrefix(prefix, 0, 5);
    try {
      reader.push(prefix, () => {});
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(MessageError);
      expect((e as MessageError).status).toBe(Status.RESOURCE_EXHAUSTED);
    }
  });

  test("compressed flag is INTERNAL (no compression in v1)", () => {
    const reader = new MessageReader(100);
    const m = new Uint8Array([1, 0, 0, 0, 0]);
    expect(() => reader.push(m, () => {})).toThrow(MessageError);
    try {
      new MessageReader(100).push(m, () => {});
    } catch (e) {
      expect((e as MessageError).status).toBe(Status.INTERNAL);
    }
  });
});

describe("MessageReader memory follows bytes received", () => {
  test("a prefix declaring a large message reserves only what arrived (bounded by the first buffer), growing as bytes come", () => {
    const declared = 64 * 1024 * 1024;
    const reader = new MessageReader(declared);
    const prefix = new Uint8Array(MESSAGE_PREFIX_SIZE);
    writeMessagePrefix(prefix, 0, declared);
    reader.push(prefix, () => expect.unreachable());
    reader.push(new Uint8Array(10), () => expect.unreachable());
    expect(reader.partial).toBe(MESSAGE_PREFIX_SIZE + 10);
    expect(reader.reserved).toBeLessThanOrEqual(16 * 1024);
    // Feed 1 MiB: the buffer stays within twice what was received.
    for (let i = 0; i < 64; i++) reader.push(new Uint8Array(16 * 1024), () => expect.unreachable());
    expect(reader.reserved).toBeLessThanOrEqual(2 * (1024 * 1024 + 10));
    expect(reader.reserved).toBeGreaterThanOrEqual(1024 * 1024 + 10);
  });

  test("a message reassembled across many chunks is complete and exact", () => {
    const message = bytes(300_001, 9);
    const whole = stream([message]);
    const reader = new MessageReader(1 << 20);
    const got: Uint8Array[] = [];
    for (let o = 0; o < whole.length; o += 7_919) reader.push(whole.subarray(o, o + 7_919), (m) => got.push(m));
    expect(got).toHaveLength(1);
    expect(got[0]!.length).toBe(message.length);
    expect(got[0]).toEqual(message);
    expect(reader.reserved).toBe(0);
  });

  test("a small message inside a large chunk is copied out (it does not pin the chunk); a large one is a view", () => {
    const big = bytes(64 * 1024, 3);
    const whole = stream([bytes(12, 1), big]);
    const reader = new MessageReader(1 << 20);
    const got: Uint8Array[] = [];
    reader.push(whole, (m) => got.push(m));
    expect(got[0]).toEqual(bytes(12, 1));
    expect(got[0]!.buffer).not.toBe(whole.buffer);
    expect(got[0]!.buffer.byteLength).toBe(12);
    expect(got[1]).toEqual(big);
    expect(got[1]!.buffer).toBe(whole.buffer);
  });
});

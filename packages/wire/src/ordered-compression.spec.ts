// The ordered (de)compression both sides share: MessageDeflater (outbound) and MessageInflater
// (inbound), with the platform gzip and with compressors that finish out of order.
import { describe, expect, it } from "vitest";
import { gzip, type Compression } from "./compression.js";
import { MessageDeflater } from "./message-deflater.js";
import { MessageInflater } from "./message-inflater.js";
import type { MessageError } from "./message.js";
import { Status } from "./status.js";

const bytes = (n: number, fill = 1) => new Uint8Array(n).fill(fill);

/** Compresses (as identity) with a delay that shrinks with the size: later messages finish first. */
const unevenCompression: Compression = {
  name: "gzip",
  compress: (b) => new Promise((r) => setTimeout(() => r(b.slice()), Math.max(0, 30 - b.length / 1000))),
  decompress: async (b) => b,
};

function collectingDeflater(compression: Compression | undefined, minBytes: number, highWaterMark = 1 << 20) {
  const out: Array<[number, boolean]> = [];
  let drains = 0;
  const deflater = new MessageDeflater(
    compression,
    minBytes,
    highWaterMark,
    (b, compressed) => out.push([b.length, compressed]),
    () => drains++,
  );
  return { deflater, out, drains: () => drains };
}

const ended = (deflater: MessageDeflater) =>
  new Promise<"done" | unknown>((resolve) =>
    deflater.end(
      () => resolve("done"),
      (e) => resolve(e),
    ),
  );

describe("MessageDeflater", () => {
  it("hands messages on in the order written, compressing those of at least minBytes", async () => {
    const { deflater, out } = collectingDeflater(unevenCompression, 100);
    for (const n of [50, 1000, 20_000, 10, 5000, 99]) deflater.write(bytes(n));
    expect(await ended(deflater)).toBe("done");
    expect(out).toEqual([
      [50, false],
      [1000, true],
      [20_000, true],
      [10, false],
      [5000, true],
      [99, false],
    ]);
  });

  it("write(message, false) sends a large message uncompressed, in order with the rest", async () => {
    const { deflater, out } = collectingDeflater(unevenCompression, 100);
    deflater.write(bytes(20_000));
    deflater.write(bytes(5000), false);
    deflater.write(bytes(3000));
    expect(await ended(deflater)).toBe("done");
    expect(out).toEqual([
      [20_000, true],
      [5000, false],
      [3000, true],
    ]);
  });

  it("a small message with nothing waiting goes through at once, and end() runs at once", () => {
    const { deflater, out } = collectingDeflater(gzip, 100);
    expect(deflater.write(bytes(10))).toBe(true);
    expect(out).toEqual([[10, false]]);
    let done = false;
    deflater.end(
      () => (done = true),
      () => undefined,
    );
    expect(done).toBe(true);
  });

  it("returns false at the high-water mark and calls onDrain once the backlog is below it", async () => {
    const { deflater, drains } = collectingDeflater(gzip, 0, 3000);
    expect(deflater.write(bytes(2000))).toBe(true);
    expect(deflater.write(bytes(2000))).toBe(false);
    expect(deflater.writable).toBe(false);
    await ended(deflater);
    expect(deflater.writable).toBe(true);
    expect(drains()).toBe(1);
  });

  it("after a failed compression nothing more is sent and end() reports the failure", async () => {
    let calls = 0;
    const failing: Compression = {
      name: "gzip",
      compress: async (b) => {
        if (++calls === 2) throw new Error("out of memory");
        return b;
      },
      decompress: async (b) => b,
    };
    const { deflater, out } = collectingDeflater(failing, 0);
    for (let i = 0; i < 4; i++) deflater.write(bytes(10));
    const result = await ended(deflater);
    expect(result).toBeInstanceOf(Error);
    expect(out).toEqual([[10, true]]);
  });
});

/** A source of flagged messages, like a wire Stream. */
function source(messages: Array<[Uint8Array, boolean]>) {
  return {
    lastReadCompressed: false,
    read(): Uint8Array | undefined {
      const next = messages.shift();
      if (next === undefined) return undefined;
      this.lastReadCompressed = next[1];
      return next[0];
    },
  };
}

describe("MessageInflater", () => {
  it("yields messages in arrival order, inflating the compressed ones", async () => {
    const plain = [bytes(3000, 7), bytes(5, 8), bytes(70_000, 9), bytes(1, 10)];
    const src = source([
      [await gzip.compress(plain[0]!), true],
      [plain[1]!, false],
      [await gzip.compress(plain[2]!), true],
      [plain[3]!, false],
    ]);
    const got: Uint8Array[] = [];
    const flags: boolean[] = [];
    let wake: () => void = () => undefined;
    const inflater = new MessageInflater(
      src,
      gzip,
      1 << 20,
      () => wake(),
      (e) => {
        throw e;
      },
    );
    for (let guard = 0; got.length < plain.length && guard < 100; guard++) {
      const m = inflater.read();
      if (m !== undefined) {
        got.push(m);
        flags.push(inflater.lastReadCompressed);
      } else await new Promise<void>((r) => (wake = r));
    }
    expect(got).toEqual(plain);
    expect(flags).toEqual([true, false, true, false]);
    expect(inflater.inflating).toBe(false);
  });

  it("stops at the first message over the limit with RESOURCE_EXHAUSTED", async () => {
    const src = source([
      [await gzip.compress(bytes(5000)), true],
      [bytes(1), false],
    ]);
    const error = await new Promise<MessageError>((resolve) => {
      const inflater = new MessageInflater(src, gzip, 4096, () => undefined, resolve);
      expect(inflater.read()).toBeUndefined();
    });
    expect(error.status).toBe(Status.RESOURCE_EXHAUSTED);
  });

  it("a compressed message without an encoding fails INTERNAL", async () => {
    const src = source([[bytes(10), true]]);
    const error = await new Promise<MessageError>((resolve) => {
      new MessageInflater(src, undefined, 4096, () => undefined, resolve).fill();
    });
    expect(error.status).toBe(Status.INTERNAL);
  });
});

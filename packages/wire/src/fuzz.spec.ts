import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { FRAME_HEADER_SIZE, FrameType } from "./constants.js";
import { ProtocolError } from "./errors.js";
import { FrameReader } from "./frame-reader.js";
import { MessageError, MessageReader } from "./message.js";
import { readMetadata } from "./metadata.js";
import { readSettings } from "./settings.js";

// Valid messages from the vector file are the seeds that mutations start from.
const seeds = (
  JSON.parse(readFileSync(new URL("../../../docs/vectors/grpc-ws-v1.json", import.meta.url), "utf8")) as Array<{
    kind: string;
    hex: string;
    error?: unknown;
  }>
)
  .filter((v) => v.kind === "frames" && !v.error && v.hex.length > 0)
  .map((v) => Uint8Array.from(Buffer.from(v.hex.replace(/\s+/g, ""), "hex")));

// Everything a receiver does with one message; returns how many frames it walked.
function receive(bytes: Uint8Array, maxFrameSize: number): number {
  const r = new FrameReader(maxFrameSize).reset(bytes);
  const messages = new MessageReader(64);
  let count = 0;
  while (r.next()) {
    count++;
    // Every frame consumes at least its header, so more frames than this would mean a loop.
    if (count > bytes.length / FRAME_HEADER_SIZE) throw new Error(`reader did not advance after ${count} frames`);
    if (r.type === FrameType.HEADERS || r.type === FrameType.TRAILERS)
      readMetadata(r.bytes, r.offset, r.length, 1 << 20, r.streamId);
    if (r.type === FrameType.SETTINGS) readSettings(r.bytes, r.offset, r.length);
    if (r.type === FrameType.DATA) {
      try {
        messages.push(r.payload, () => {});
      } catch (error) {
        if (!(error instanceof MessageError)) throw error;
      }
    }
  }
  return count;
}

function onlyProtocolErrors(bytes: Uint8Array, maxFrameSize: number): void {
  try {
    receive(bytes, maxFrameSize);
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
  }
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant("set" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("xor" as const), at: fc.nat(), value: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant("cut" as const), at: fc.nat(), value: fc.constant(0) }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
);

function mutate(
  seed: Uint8Array,
  mutations: Array<{ kind: "set" | "xor" | "cut" | "insert"; at: number; value: number }>,
): Uint8Array {
  let b = seed.slice();
  for (const m of mutations) {
    const at = b.length === 0 ? 0 : m.at % (b.length + (m.kind === "insert" ? 1 : 0));
    if (m.kind === "cut") b = b.subarray(0, at);
    else if (m.kind === "insert") b = Uint8Array.from([...b.subarray(0, at), m.value, ...b.subarray(at)]);
    else if (b.length > 0) b[at] = m.kind === "set" ? m.value : b[at]! ^ m.value;
  }
  return b;
}

describe("FrameReader under random input", () => {
  test("random bytes: frames or ProtocolError, nothing else, always terminating", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), fc.constantFrom(1024, 16384, 0xffffff), (bytes, max) =>
        onlyProtocolErrors(bytes, max),
      ),
      { numRuns: 3000 },
    );
  });

  test("random frame headers in front of random payloads", () => {
    const frame = fc
      .tuple(
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 0, max: 9 }),
        fc.integer({ min: 0, max: 3 }),
        fc.constantFrom(0, 1, 2, 3, 0x7fffffff, 0x80000001),
        fc.uint8Array({ maxLength: 40 }),
      )
      .map(([length, type, flags, id, payload]) => {
        const b = new Uint8Array(FRAME_HEADER_SIZE + payload.length);
        new DataView(b.buffer).setUint32(0, length << 8);
        b[3] = type;
        b[4] = flags;
        new DataView(b.buffer).setUint32(5, id);
        b.set(payload, FRAME_HEADER_SIZE);
        return b;
      });
    fc.assert(
      fc.property(fc.array(frame, { maxLength: 6 }), (frames) =>
        onlyProtocolErrors(Uint8Array.from(frames.flatMap((f) => [...f])), 16384),
      ),
      { numRuns: 3000 },
    );
  });

  test("mutated valid messages: frames or ProtocolError, nothing else", () => {
    expect(seeds.length).toBeGreaterThan(30);
    for (const seed of seeds) expect(() => receive(seed, 16384)).not.toThrow();
    fc.assert(
      fc.property(fc.constantFrom(...seeds), fc.array(mutation, { minLength: 1, maxLength: 4 }), (seed, mutations) =>
        onlyProtocolErrors(mutate(seed, mutations), 16384),
      ),
      { numRuns: 5000 },
    );
  });

  test("a message of many frames is walked well within a second", () => {
    // 100 000 empty DATA frames on stream 1 in one message, with a stray byte at the end.
    const big = new Uint8Array(100_000 * FRAME_HEADER_SIZE + 1);
    for (let o = 0; o + FRAME_HEADER_SIZE <= big.length; o += FRAME_HEADER_SIZE) big[o + 8] = 1;
    const start = Date.now();
    expect(() => receive(big, 16384)).toThrow(/truncated frame header: 1 of 9/);
    expect(Date.now() - start).toBeLessThan(1000);
  });
});

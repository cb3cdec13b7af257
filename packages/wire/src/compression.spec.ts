import * as zlib from "node:zlib";
import { describe, expect, it } from "vitest";
import {
  compressMessage,
  decompressMessage,
  gzip,
  negotiateCompression,
  parseEncodingList,
  type Compression,
} from "./compression.js";
import { Status } from "./status.js";
import { maxRssBytes, same, statusOf, zipBomb } from "./zip-bomb.test-util.js";

const text = new TextEncoder().encode("hello compressible world ".repeat(4000));

describe("gzip with the platform's CompressionStream", () => {
  it("round-trips and really compresses; zlib reads what it writes and the other way round", async () => {
    const packed = await gzip.compress(text);
    expect(packed.length).toBeLessThan(text.length / 20);
    expect(same(zlib.gunzipSync(packed), text)).toBe(true);
    expect(same(await gzip.decompress(packed, text.length), text)).toBe(true);
    expect(same(await gzip.decompress(zlib.gzipSync(text), text.length), text)).toBe(true);
  });

  it("an empty message stays empty", async () => {
    expect((await gzip.decompress(new Uint8Array(0), 0)).length).toBe(0);
    expect(await gzip.decompress(await gzip.compress(new Uint8Array(0)), 0)).toEqual(new Uint8Array(0));
  });

  it("the limit is on the decompressed size: exactly the limit passes, one byte more is RESOURCE_EXHAUSTED", async () => {
    const packed = zlib.gzipSync(text);
    expect((await gzip.decompress(packed, text.length)).length).toBe(text.length);
    expect(await statusOf(gzip.decompress(packed, text.length - 1))).toBe(Status.RESOURCE_EXHAUSTED);
  });

  it("corrupt input is INTERNAL, never a crash", async () => {
    const packed = zlib.gzipSync(text);
    expect(await statusOf(gzip.decompress(packed.subarray(0, packed.length - 10), 1 << 20))).toBe(Status.INTERNAL);
    expect(await statusOf(gzip.decompress(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), 1 << 20))).toBe(
      Status.INTERNAL,
    );
  });

  it("a 1 GiB zip bomb gets RESOURCE_EXHAUSTED without inflating it", async () => {
    const bomb = await zipBomb(1024);
    expect(bomb.length).toBeLessThan(1.1e6);
    const before = maxRssBytes();
    expect(await statusOf(gzip.decompress(bomb, 4 << 20))).toBe(Status.RESOURCE_EXHAUSTED);
    // Inflating all of it would raise the peak by about 1 GiB.
    expect(maxRssBytes() - before).toBeLessThan(256 << 20);
  }, 30_000);
});

describe("compressMessage / decompressMessage", () => {
  it("compresses only from compressMinBytes on, and only with an encoding", async () => {
    const small = text.subarray(0, 100);
    const kept = await compressMessage(gzip, small, 1024);
    expect(kept.compressed).toBe(false);
    expect(kept.bytes).toBe(small);
    expect((await compressMessage(undefined, text, 0)).bytes).toBe(text);
    const out = await compressMessage(gzip, text, 1024);
    expect(out.compressed).toBe(true);
    expect(out.bytes.length).toBeLessThan(text.length / 20);
    expect(same(await decompressMessage(gzip, out.bytes, text.length), text)).toBe(true);
  });

  it("a compressed message on a call without grpc-encoding is INTERNAL", async () => {
    expect(await statusOf(decompressMessage(undefined, zlib.gzipSync(text), 1 << 20))).toBe(Status.INTERNAL);
  });

  it("maps another implementation's errors: code 8 stays RESOURCE_EXHAUSTED, others INTERNAL; an unchecked result is still held to the limit", async () => {
    const throwing = (error: unknown): Compression => ({
      name: "x",
      compress: async (b) => b,
      decompress: () => Promise.reject(error),
    });
    expect(
      await statusOf(decompressMessage(throwing(Object.assign(new Error("too big"), { code: 8 })), text, 10)),
    ).toBe(Status.RESOURCE_EXHAUSTED);
    expect(await statusOf(decompressMessage(throwing(new Error("bad data")), text, 10))).toBe(Status.INTERNAL);
    const careless: Compression = { name: "x", compress: async (b) => b, decompress: async () => text };
    expect(await statusOf(decompressMessage(careless, text, text.length - 1))).toBe(Status.RESOURCE_EXHAUSTED);
  });
});

describe("negotiation (grpc/grpc doc/compression.md)", () => {
  it("parses grpc-accept-encoding lists", () => {
    expect(parseEncodingList(" gzip , Identity,,deflate ")).toEqual(["gzip", "identity", "deflate"]);
    expect(parseEncodingList(undefined)).toEqual([]);
  });

  it("an unsupported request encoding is UNIMPLEMENTED, naming what is supported", () => {
    const n = negotiateCompression([gzip], undefined, "br", undefined);
    expect(n.error?.code).toBe(Status.UNIMPLEMENTED);
    expect(n.error?.message).toContain("identity,gzip");
  });

  it("identity or no grpc-encoding means uncompressed requests", () => {
    expect(negotiateCompression([gzip], undefined, "identity", undefined)).toEqual({
      request: undefined,
      response: undefined,
    });
    expect(negotiateCompression([gzip], undefined, undefined, "gzip")).toEqual({
      request: undefined,
      response: undefined,
    });
  });

  it("responses use sendCompression when the client accepts it, else the request's encoding if accepted, else identity", () => {
    expect(negotiateCompression([gzip], gzip, undefined, "identity,gzip").response).toBe(gzip);
    expect(negotiateCompression([gzip], gzip, undefined, "identity").response).toBeUndefined();
    expect(negotiateCompression([gzip], undefined, "gzip", "gzip").response).toBe(gzip);
    expect(negotiateCompression([gzip], undefined, "gzip", undefined)).toEqual({ request: gzip, response: undefined });
  });
});

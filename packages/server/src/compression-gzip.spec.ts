import * as zlib from "node:zlib";
import { Status, gzip } from "@grpc-ws/wire";
import { describe, expect, it } from "vitest";
import { maxRssBytes, same, statusOf, zipBomb } from "../../wire/src/zip-bomb.test-util.js";
import { gzipNode } from "./compression-gzip.js";

const text = new TextEncoder().encode("a compressible gRPC payload ".repeat(3000));

describe("gzip with Node's zlib", () => {
  it("round-trips, and interoperates with the platform CompressionStream backend both ways", async () => {
    const packed = await gzipNode.compress(text);
    expect(packed.length).toBeLessThan(text.length / 20);
    expect(same(await gzipNode.decompress(packed, text.length), text)).toBe(true);
    expect(same(await gzip.decompress(packed, text.length), text)).toBe(true);
    expect(same(await gzipNode.decompress(await gzip.compress(text), text.length), text)).toBe(true);
  });

  it("the limit is on the decompressed size, checked while inflating", async () => {
    const packed = zlib.gzipSync(text);
    expect((await gzipNode.decompress(packed, text.length)).length).toBe(text.length);
    expect(await statusOf(gzipNode.decompress(packed, text.length - 1))).toBe(Status.RESOURCE_EXHAUSTED);
    expect(await statusOf(gzipNode.decompress(packed, 0))).toBe(Status.RESOURCE_EXHAUSTED);
    expect((await gzipNode.decompress(zlib.gzipSync(new Uint8Array(0)), 0)).length).toBe(0);
  });

  it("corrupt input is INTERNAL", async () => {
    const packed = zlib.gzipSync(text);
    expect(await statusOf(gzipNode.decompress(packed.subarray(0, packed.length - 10), 1 << 20))).toBe(Status.INTERNAL);
    expect(await statusOf(gzipNode.decompress(new Uint8Array(16).fill(7), 1 << 20))).toBe(Status.INTERNAL);
  });

  it("a 1 GiB zip bomb gets RESOURCE_EXHAUSTED without inflating it", async () => {
    const bomb = await zipBomb(1024);
    const before = maxRssBytes();
    expect(await statusOf(gzipNode.decompress(bomb, 4 << 20))).toBe(Status.RESOURCE_EXHAUSTED);
    expect(maxRssBytes() - before).toBeLessThan(256 << 20);
  }, 30_000);
});

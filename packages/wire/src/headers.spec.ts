import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { decodeBase64, encodeBase64, headersToMetadata, metadataToHeaders } from "./headers.js";

describe("base64", () => {
  test("matches Node's encoder and decodes its own output for any bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const text = encodeBase64(bytes);
        expect(text).toBe(Buffer.from(bytes).toString("base64"));
        expect(decodeBase64(text)).toEqual(bytes);
        expect(decodeBase64(text.replace(/=+$/, ""))).toEqual(bytes);
        expect(decodeBase64(Buffer.from(bytes).toString("base64url"))).toEqual(bytes);
      }),
      { numRuns: 500 },
    );
  });

  test("rejects what is not base64", () => {
    for (const bad of ["A", "AB*D", "\u00e9AAA", "ABCDE", "AB CD"]) expect(decodeBase64(bad)).toBeUndefined();
    expect(decodeBase64("")).toEqual(new Uint8Array(0));
  });
});

describe("Headers <-> metadata", () => {
  test("-bin values are decoded per comma-separated part; skip drops names", () => {
    const h = new Headers();
    h.append("x-bin", "AAE=");
    h.append("x-bin", "/w");
    h.append("plain", "v");
    h.append("te", "trailers");
    expect(headersToMetadata(h, new Set(["te"]))).toEqual([
      ["plain", "v"],
      ["x-bin", new Uint8Array([0, 1])],
      ["x-bin", new Uint8Array([255])],
    ]);
  });

  test("a -bin header that is not base64 is a TypeError", () => {
    expect(() => headersToMetadata(new Headers({ "k-bin": "!!" }))).toThrow(TypeError);
  });

  test("metadataToHeaders base64-encodes -bin values and appends into an existing Headers", () => {
    const into = new Headers({ a: "1" });
    const h = metadataToHeaders(
      [
        ["a", "2"],
        ["k-bin", new Uint8Array([0xfb, 0xff])],
        ["s", "x"],
      ],
      new Set(["s"]),
      into,
    );
    expect(h).toBe(into);
    expect(h.get("a")).toBe("1, 2");
    expect(h.get("k-bin")).toBe("+/8=");
    expect(h.has("s")).toBe(false);
    expect(headersToMetadata(h)).toEqual([
      ["a", "1, 2"],
      ["k-bin", new Uint8Array([0xfb, 0xff])],
    ]);
  });
});

import { describe, expect, test } from "vitest";
import { ErrorCode } from "./constants.js";
import { ProtocolError } from "./errors.js";
import {
  getMetadata,
  invalidName,
  isBinaryName,
  metadataSize,
  readMetadata,
  writeMetadata,
  type Metadata,
} from "./metadata.js";

function encode(metadata: Metadata): Uint8Array {
  const buf = new Uint8Array(metadataSize(metadata) + 4);
  expect(writeMetadata(buf, 2, metadata)).toBe(buf.length - 2);
  return buf;
}

describe("metadata block", () => {
  test("round trip at an offset: order, repeats, empty values, raw binary", () => {
    const md: Metadata = [
      [":path", "/p.S/M"],
      ["a", ""],
      ["a", " ~"],
      ["x-bin", new Uint8Array([0, 0x80, 0xff])],
      ["x-bin", new Uint8Array(0)],
      ["n_0.9-z", "v"],
    ];
    const buf = encode(md);
    expect(readMetadata(buf, 2, buf.length - 4)).toEqual(md);
    expect(buf[0]).toBe(0);
    expect(buf[buf.length - 1]).toBe(0);
  });

  test("entry layout: name length u16, value length u32, name, value", () => {
    const buf = encode([["ab", "xyz"]]);
    expect([...buf.subarray(2, buf.length - 2)]).toEqual([0, 2, 0, 0, 0, 3, 0x61, 0x62, 0x78, 0x79, 0x7a]);
  });

  test("binary values are views into the message, not copies", () => {
    const buf = encode([["k-bin", new Uint8Array([1, 2])]]);
    const value = readMetadata(buf, 2, buf.length - 4)[0]![1] as Uint8Array;
    expect(value.buffer).toBe(buf.buffer);
  });

  test("names: valid and invalid", () => {
    for (const name of ["a", "grpc-timeout", ":path", "x_y.z-0", "-bin"]) expect(invalidName(name)).toBeUndefined();
    for (const name of ["", "A", "a b", "a:b", "caf\u00e9", "a\u0000", "::", "a/b"])
      expect(invalidName(name)).toBeDefined();
    expect(invalidName("a".repeat(0x10000))).toMatch(/65535/);
    expect(isBinaryName("x-bin")).toBe(true);
    expect(isBinaryName("bin")).toBe(false);
  });

  test("metadataSize refuses what cannot be sent", () => {
    expect(() => metadataSize([["Bad", "v"]])).toThrow(TypeError);
    expect(() => metadataSize([["k", "caf\u00e9"]])).toThrow(/printable ASCII/);
    expect(() => metadataSize([["k", "a\nb"]])).toThrow(TypeError);
    expect(() => metadataSize([["k-bin", "text"]])).toThrow(/binary/);
    expect(() => metadataSize([["k", new Uint8Array(1)]])).toThrow(/-bin/);
    expect(
      metadataSize([
        ["ab", "cd"],
        ["e-bin", new Uint8Array(3)],
      ]),
    ).toBe(6 + 4 + 6 + 8);
  });

  test("a block over maxSize is refused before decoding", () => {
    const buf = encode([["k", "v".repeat(100)]]);
    const error = (() => {
      try {
        readMetadata(buf, 2, buf.length - 4, 50, 9);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).streamId).toBe(9);
    expect((error as ProtocolError).code).toBe(ErrorCode.PROTOCOL_ERROR);
  });

  test("an entry that ends exactly at the block end is fine; one byte less is not", () => {
    const buf = encode([["k", "vv"]]);
    expect(readMetadata(buf, 2, buf.length - 4)).toEqual([["k", "vv"]]);
    expect(() => readMetadata(buf, 2, buf.length - 5)).toThrow(/overruns/);
  });

  test("getMetadata returns the first value", () => {
    const md: Metadata = [
      ["a", "1"],
      ["a", "2"],
    ];
    expect(getMetadata(md, "a")).toBe("1");
    expect(getMetadata(md, "b")).toBeUndefined();
  });
});

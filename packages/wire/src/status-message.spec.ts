import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { decodeStatusMessage, encodeStatusMessage } from "./status-message.js";
import { parseStatus, Status } from "./status.js";
import { createTrailers, parseTrailers } from "./trailers.js";

describe("grpc-message percent-encoding", () => {
  test("any Unicode string survives a round trip, and the encoding is printable ASCII", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (s) => {
        const encoded = encodeStatusMessage(s);
        expect(encoded).toMatch(/^[\x20-\x7e]*$/);
        expect(decodeStatusMessage(encoded)).toBe(s);
      }),
      { numRuns: 1000 },
    );
  });

  test("lone surrogates (not Unicode scalar values) become U+FFFD", () => {
    expect(decodeStatusMessage(encodeStatusMessage("a\ud800b"))).toBe("a\ufffdb");
  });

  test("decoding never throws, whatever the input", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom("%", "A", "f", "G", "0", "9", "\u00e9", "\ud83d", "\ude00", " ") }),
        (s) => {
          expect(typeof decodeStatusMessage(s)).toBe("string");
        },
      ),
      { numRuns: 1000 },
    );
  });

  test("non-ASCII characters in a received value are kept (lenient)", () => {
    expect(decodeStatusMessage("\u00e9%41\ud83d\ude00")).toBe("\u00e9A\ud83d\ude00");
  });
});

describe("status and trailers", () => {
  test("parseStatus: 0-16, anything else UNKNOWN", () => {
    expect(parseStatus("0")).toBe(Status.OK);
    expect(parseStatus("16")).toBe(Status.UNAUTHENTICATED);
    for (const bad of ["17", "-1", "", "1x", "007", " 1", undefined]) expect(parseStatus(bad)).toBe(Status.UNKNOWN);
  });

  test("createTrailers / parseTrailers round trip, reserved names dropped from custom metadata", () => {
    const details = new Uint8Array([8, 5]);
    const t = createTrailers(
      Status.NOT_FOUND,
      "n\u00f6pe 100%",
      [
        ["x-a", "1"],
        ["grpc-status", "0"],
        ["content-type", "x"],
        ["y-bin", new Uint8Array([1])],
      ],
      details,
    );
    expect(t[0]).toEqual(["grpc-status", "5"]);
    expect(t[1]).toEqual(["grpc-message", "n%C3%B6pe 100%25"]);
    const parsed = parseTrailers(t);
    expect(parsed).toEqual({
      code: Status.NOT_FOUND,
      message: "n\u00f6pe 100%",
      details,
      metadata: [
        ["x-a", "1"],
        ["y-bin", new Uint8Array([1])],
      ],
    });
  });

  test("missing or invalid grpc-status is UNKNOWN with a reason", () => {
    expect(parseTrailers([])).toMatchObject({
      code: Status.UNKNOWN,
      message: expect.stringContaining("no grpc-status"),
    });
    expect(parseTrailers([["grpc-status", "99"]])).toMatchObject({
      code: Status.UNKNOWN,
      message: expect.stringContaining("99"),
    });
    expect(
      parseTrailers([
        ["grpc-status", "2"],
        ["grpc-message", "m"],
      ]),
    ).toMatchObject({ code: Status.UNKNOWN, message: "m" });
    expect(createTrailers(Status.OK)).toEqual([["grpc-status", "0"]]);
  });
});

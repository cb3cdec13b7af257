import { describe, expect, it } from "vitest";
import {
  BEARER_SUBPROTOCOL_PREFIX,
  bearerSubprotocol,
  refusalCloseCode,
  refusalCloseReason,
  statusFromRefusalClose,
  tokenFromSubprotocol,
} from "./access.js";
import { Status } from "./status.js";

// RFC 7230 token characters: what a Sec-WebSocket-Protocol entry may hold.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

describe("bearer subprotocol", () => {
  it("carries any token as unpadded base64url of its UTF-8, a valid header token", () => {
    expect(bearerSubprotocol("abc")).toBe("grpc-ws.bearer.YWJj");
    expect(bearerSubprotocol("ab")).toBe("grpc-ws.bearer.YWI");
    // Bytes that standard base64 writes as + and /.
    expect(bearerSubprotocol("\u00fb\u00ff")).toBe("grpc-ws.bearer.w7vDvw");
    expect(bearerSubprotocol(">?>")).toBe("grpc-ws.bearer.Pj8-");
    for (const token of ["eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", "a b,c;d=e/f+g", "ключ 🔑", "x".repeat(4096)]) {
      const protocol = bearerSubprotocol(token);
      expect(protocol.startsWith(BEARER_SUBPROTOCOL_PREFIX)).toBe(true);
      expect(protocol).toMatch(TOKEN);
      expect(tokenFromSubprotocol(protocol)).toBe(token);
    }
  });

  it("refuses an empty token; reads nothing from malformed or foreign entries", () => {
    expect(() => bearerSubprotocol("")).toThrow(TypeError);
    expect(tokenFromSubprotocol("grpc-ws.v1")).toBeUndefined();
    expect(tokenFromSubprotocol("grpc-ws.bearer.")).toBeUndefined();
    expect(tokenFromSubprotocol("grpc-ws.bearer.YW+j")).toBeUndefined();
    expect(tokenFromSubprotocol("grpc-ws.bearer.YWJj==")).toBeUndefined();
    expect(tokenFromSubprotocol("grpc-ws.bearer.Y")).toBeUndefined();
    // Not UTF-8 (0xff).
    expect(tokenFromSubprotocol("grpc-ws.bearer._w")).toBeUndefined();
  });
});

describe("refusal close codes", () => {
  it("are 4000 + status for statuses 1..16, nothing else", () => {
    expect(refusalCloseCode(Status.UNAUTHENTICATED)).toBe(4016);
    expect(refusalCloseCode(Status.PERMISSION_DENIED)).toBe(4007);
    expect(statusFromRefusalClose(4016)).toBe(Status.UNAUTHENTICATED);
    expect(statusFromRefusalClose(4001)).toBe(Status.CANCELLED);
    expect(statusFromRefusalClose(4000)).toBeUndefined();
    expect(statusFromRefusalClose(4017)).toBeUndefined();
    expect(statusFromRefusalClose(1006)).toBeUndefined();
  });

  it("reasons are cut to 123 bytes of UTF-8 at a character boundary", () => {
    expect(refusalCloseReason("short")).toBe("short");
    const long = "é".repeat(100); // 200 bytes
    const cut = refusalCloseReason(long);
    expect(new TextEncoder().encode(cut).length).toBe(122);
    expect(cut).toBe("é".repeat(61));
  });
});

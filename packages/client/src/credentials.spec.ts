import { Code, ConnectError } from "@connectrpc/connect";
import { SUBPROTOCOL, bearerSubprotocol } from "@grpc-ws/wire";
import { describe, expect, it } from "vitest";
import { offeredProtocols, refusalFromClose, refusalFromHttp } from "./credentials.js";

describe("offeredProtocols", () => {
  it("offers grpc-ws.v1, plus the bearer form of a token; synchronous for a string", () => {
    expect(offeredProtocols(undefined)).toEqual([SUBPROTOCOL]);
    expect(offeredProtocols("t0k")).toEqual([SUBPROTOCOL, bearerSubprotocol("t0k")]);
    expect(offeredProtocols("")).toEqual([SUBPROTOCOL]);
    expect(offeredProtocols(() => "sync")).toEqual([SUBPROTOCOL, bearerSubprotocol("sync")]);
  });

  it("awaits an async token function; its failure is a ConnectError (its own, else Unauthenticated)", async () => {
    await expect(offeredProtocols(async () => "later")).resolves.toEqual([SUBPROTOCOL, bearerSubprotocol("later")]);
    await expect(offeredProtocols(async () => Promise.reject(new Error("login expired")))).rejects.toMatchObject({
      code: Code.Unauthenticated,
      rawMessage: "the token function failed: login expired",
    });
    await expect(
      offeredProtocols(() => {
        throw new ConnectError("token service down", Code.Unavailable);
      }),
    ).rejects.toMatchObject({ code: Code.Unavailable, rawMessage: "token service down" });
    await expect(offeredProtocols((async () => 42) as unknown as () => Promise<string>)).rejects.toMatchObject({
      code: Code.Unauthenticated,
    });
  });
});

describe("refusals", () => {
  it("from a close code 4001..4016 with its reason", () => {
    expect(refusalFromClose(4016, "sign in")).toMatchObject({ code: Code.Unauthenticated, rawMessage: "sign in" });
    expect(refusalFromClose(4007, "")).toMatchObject({
      code: Code.PermissionDenied,
      rawMessage: "the server refused the connection",
    });
    expect(refusalFromClose(1006, "")).toBeUndefined();
    expect(refusalFromClose(1000, "")).toBeUndefined();
  });

  it("from an HTTP response: grpc-status and grpc-message first, else 401/403 only", () => {
    expect(refusalFromHttp(403, { "grpc-status": "7", "grpc-message": "not for you %E2%9C%8B" })).toMatchObject({
      code: Code.PermissionDenied,
      rawMessage: "not for you ✋",
    });
    expect(refusalFromHttp(401, {})).toMatchObject({ code: Code.Unauthenticated });
    expect(refusalFromHttp(403, {})).toMatchObject({ code: Code.PermissionDenied });
    expect(refusalFromHttp(503, {})).toBeUndefined();
    expect(refusalFromHttp(404, {})).toBeUndefined();
    expect(refusalFromHttp(500, { "grpc-status": "99" })).toBeUndefined();
  });
});

import { create } from "@bufbuild/protobuf";
import { createContextKey, createContextValues, createHandlerContext } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { SimpleRequestSchema } from "../../../gen/grpc/testing/messages_pb.js";
import { TestService } from "../../../gen/grpc/testing/test_pb.js";
import { CALL_COMPLETE, createCallHandlerContext } from "./handler-context.js";

const base = {
  service: TestService,
  method: TestService.method.unaryCall,
  protocolName: "grpc-ws",
  url: "ws://127.0.0.1/grpc.testing.TestService/UnaryCall",
};
const init = (signal: AbortSignal, remaining?: number) => ({ ...base, signal, timeoutMs: () => remaining });

describe("createCallHandlerContext", () => {
  it("has every field Connect's context has, with the call's own signal and deadline", () => {
    const controller = new AbortController();
    const ours = createCallHandlerContext(init(controller.signal, 1234));
    const connects = createHandlerContext({ ...base, requestMethod: "POST", requestSignal: controller.signal });
    const { abort: _abort, ...connectFields } = connects;
    expect(Object.keys(ours).sort()).toEqual(
      Object.keys(connectFields)
        .filter((k) => k !== "requestSignal" && k !== "contextValues")
        .sort(),
    );
    expect(ours.signal).toBe(controller.signal);
    expect(ours.timeoutMs()).toBe(1234);
    expect(ours.requestMethod).toBe("POST");
    expect(ours.method).toBe(TestService.method.unaryCall);
    expect(ours.responseHeader).not.toBe(ours.responseTrailer);
  });

  it("keeps the context values it is given, or starts empty ones", () => {
    const key = createContextKey("none");
    const values = createContextValues().set(key, "set");
    expect(
      createCallHandlerContext({ ...init(new AbortController().signal), contextValues: values }).values.get(key),
    ).toBe("set");
    expect(createCallHandlerContext(init(new AbortController().signal)).values.get(key)).toBe("none");
  });

  it("a completed call's signal fires with the one shared AbortError, as Connect's abort() without a reason", () => {
    const reasons: unknown[] = [];
    for (let i = 0; i < 2; i++) {
      const controller = new AbortController();
      const ctx = createCallHandlerContext(init(controller.signal));
      ctx.signal.addEventListener("abort", () => reasons.push(ctx.signal.reason));
      controller.abort(CALL_COMPLETE);
    }
    expect(reasons).toEqual([CALL_COMPLETE, CALL_COMPLETE]);
    expect(reasons[0]).toBe(reasons[1]);
    const connects = createHandlerContext({ ...base, requestMethod: "POST" });
    connects.abort();
    const theirs = connects.signal.reason as DOMException;
    expect(CALL_COMPLETE).toBeInstanceOf(DOMException);
    expect(CALL_COMPLETE.name).toBe(theirs.name);
  });

  it("serves a real handler: the handler sees the request headers filled in place and sets response headers", async () => {
    const ctx = createCallHandlerContext(init(new AbortController().signal));
    ctx.requestHeader.set("x-user", "ada");
    const handler = (req: { responseSize: number }, c: typeof ctx) => {
      c.responseHeader.set("x-seen", c.requestHeader.get("x-user") ?? "");
      return { payload: { body: new Uint8Array(req.responseSize) } };
    };
    const res = await Promise.resolve(handler(create(SimpleRequestSchema, { responseSize: 3 }), ctx));
    expect(res.payload.body.length).toBe(3);
    expect(ctx.responseHeader.get("x-seen")).toBe("ada");
  });
});

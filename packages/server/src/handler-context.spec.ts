import { create } from "@bufbuild/protobuf";
import { createContextKey, createContextValues, createHandlerContext, type ContextValues } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { SimpleRequestSchema } from "../../../gen/grpc/testing/messages_pb.js";
import { TestService } from "../../../gen/grpc/testing/test_pb.js";
import { CALL_COMPLETE, CallHandlerContext, withFields, type CallHandlerContextSource } from "./handler-context.js";

const base = {
  service: TestService,
  method: TestService.method.unaryCall,
  protocolName: "grpc-ws",
  url: "ws://127.0.0.1/grpc.testing.TestService/UnaryCall",
};

/** A source that counts what the context asked of it. */
function source(controller: AbortController, remaining?: number, values?: ContextValues) {
  const asked = { signal: 0, header: 0, values: 0 };
  const s: CallHandlerContextSource = {
    get signal() {
      asked.signal++;
      return controller.signal;
    },
    remainingMs: () => remaining,
    fillRequestHeader(into) {
      asked.header++;
      into.set("x-user", "ada");
    },
    contextValues() {
      asked.values++;
      return values ?? createContextValues();
    },
  };
  return { s, asked };
}

describe("CallHandlerContext", () => {
  it("has every field Connect's context has, with the call's own signal and deadline", () => {
    const controller = new AbortController();
    const ours = new CallHandlerContext({ ...base, source: source(controller, 1234).s });
    const connects = createHandlerContext({ ...base, requestMethod: "POST", requestSignal: controller.signal });
    const { abort: _abort, ...connectFields } = connects;
    const fields = Object.keys(connectFields).filter((k) => k !== "requestSignal" && k !== "contextValues");
    expect(fields).toHaveLength(11);
    for (const k of fields) expect((ours as unknown as Record<string, unknown>)[k], k).toBeDefined();
    // withFields (what interceptors hand on) is a plain object with all of them, read through the getters.
    expect(Object.keys(withFields(ours, {})).sort()).toEqual([...fields].sort());
    expect(ours.signal).toBe(controller.signal);
    expect(ours.timeoutMs()).toBe(1234);
    expect(ours.requestMethod).toBe("POST");
    expect(ours.method).toBe(TestService.method.unaryCall);
    expect(ours.responseHeader).not.toBe(ours.responseTrailer);
    const copy = withFields(ours, { url: "replaced" });
    expect(copy.url).toBe("replaced");
    expect(copy.responseHeader).toBe(ours.responseHeader);
    expect(copy.requestHeader.get("x-user")).toBe("ada");
  });

  it("makes the headers, the signal and the values only when read, and each once", () => {
    const { s, asked } = source(new AbortController());
    const ctx = new CallHandlerContext({ ...base, source: s });
    expect(asked).toEqual({ signal: 0, header: 0, values: 0 });
    expect(ctx.responseHeaderIfMade).toBeUndefined();
    expect(ctx.responseTrailerIfMade).toBeUndefined();
    expect(ctx.requestHeader).toBe(ctx.requestHeader);
    expect(ctx.values).toBe(ctx.values);
    void ctx.signal;
    expect(asked).toEqual({ signal: 1, header: 1, values: 1 });
    ctx.responseHeader.set("x-a", "1");
    ctx.responseTrailer.set("x-b", "2");
    expect(ctx.responseHeaderIfMade?.get("x-a")).toBe("1");
    expect(ctx.responseTrailerIfMade?.get("x-b")).toBe("2");
  });

  it("keeps the context values its source gives", () => {
    const key = createContextKey("none");
    const values = createContextValues().set(key, "set");
    const ctx = new CallHandlerContext({ ...base, source: source(new AbortController(), undefined, values).s });
    expect(ctx.values.get(key)).toBe("set");
  });

  it("a completed call's signal fires with the one shared AbortError, as Connect's abort() without a reason", () => {
    const reasons: unknown[] = [];
    for (let i = 0; i < 2; i++) {
      const controller = new AbortController();
      const ctx = new CallHandlerContext({ ...base, source: source(controller).s });
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

  it("serves a real handler: the handler sees the request headers and sets response headers", async () => {
    const ctx = new CallHandlerContext({ ...base, source: source(new AbortController()).s });
    const handler = (req: { responseSize: number }, c: typeof ctx) => {
      c.responseHeader.set("x-seen", c.requestHeader.get("x-user") ?? "");
      return { payload: { body: new Uint8Array(req.responseSize) } };
    };
    const res = await Promise.resolve(handler(create(SimpleRequestSchema, { responseSize: 3 }), ctx));
    expect(res.payload.body.length).toBe(3);
    expect(ctx.responseHeader.get("x-seen")).toBe("ada");
  });
});

// Connect interceptors on in-process calls, through the real bridge and the real client: the
// bridge's own (outermost) and a service's or rpc's, for all four kinds of method.
import { create, toBinary } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createClient,
  createContextKey,
  type CallOptions,
  type Client,
  type ConnectRouter,
  type Interceptor,
  type ServiceImpl,
  type StreamResponse,
} from "@connectrpc/connect";
import { createWebSocketTransport, type WebSocketTransport } from "@grpc-ws/client";
import { Status, type Session, type Stream } from "@grpc-ws/wire";
import { afterAll, describe, expect, test } from "vitest";
import {
  SimpleRequestSchema,
  StreamingOutputCallRequestSchema,
  type SimpleRequest,
} from "../../../gen/grpc/testing/messages_pb.js";
import { TestService } from "../../../gen/grpc/testing/test_pb.js";
import { createWebSocketBridge, type WebSocketBridge, type WebSocketBridgeOptions } from "./index.js";
import { BridgeRouter } from "./router.js";
import { TestClient, until } from "./test-client.test-util.js";

const TS = "/grpc.testing.TestService";
const USER = createContextKey<string>("", { description: "the authenticated user" });

const open: Array<{ close(): Promise<unknown> }> = [];
afterAll(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

async function start(
  options: WebSocketBridgeOptions,
): Promise<{ bridge: WebSocketBridge; url: string; client: Client<typeof TestService> }> {
  const bridge = createWebSocketBridge({ keepalive: false, ...options });
  open.push({ close: () => bridge.close({ drainTimeoutMs: 100 }) });
  const { url } = await bridge.listen();
  const transport: WebSocketTransport = createWebSocketTransport({ url });
  open.push(transport);
  return { bridge, url, client: createClient(TestService, transport) };
}

async function testClient(url: string, settings?: Parameters<typeof TestClient.connect>[1]): Promise<TestClient> {
  const client = await TestClient.connect(url, settings);
  open.push(client);
  return client;
}

/** Bounded stand-in for a request stream the client writes. */
async function* sizes(...list: number[]) {
  for (const n of list) yield { payload: { body: new Uint8Array(n) }, responseParameters: [{ size: n }] };
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Counts every call that reached a handler. */
let handled = 0;

/** A TestService whose answers show what the handler saw: the user in `ctx.values`, the request headers. */
const service: Partial<ServiceImpl<typeof TestService>> = {
  unaryCall(req, ctx) {
    handled++;
    return {
      username: ctx.values.get(USER),
      oauthScope: ctx.requestHeader.get("x-scope") ?? "",
      payload: { body: new Uint8Array(req.responseSize) },
    };
  },
  async *streamingOutputCall(req) {
    handled++;
    for (const p of req.responseParameters) yield { payload: { body: new Uint8Array(p.size) } };
  },
  async streamingInputCall(reqs, ctx) {
    handled++;
    let total = 0;
    for await (const r of reqs) total += r.payload?.body.length ?? 0;
    // The user's name length rides along so the test sees ctx.values on this kind too.
    return { aggregatedPayloadSize: total + ctx.values.get(USER).length * 1000 };
  },
  async *fullDuplexCall(reqs) {
    handled++;
    for await (const r of reqs)
      for (const p of r.responseParameters) yield { payload: { body: new Uint8Array(p.size) } };
  },
};

const auth: Interceptor = (next) => async (req) => {
  const token = req.header.get("authorization");
  if (token !== "Bearer good") throw new ConnectError("missing or bad credentials", Code.Unauthenticated);
  req.contextValues.set(USER, "alice");
  return await next(req);
};

describe("an authentication interceptor on the bridge", () => {
  const ok: CallOptions = { headers: { authorization: "Bearer good" } };

  test("rejects calls without credentials with Unauthenticated, trailers-only, for all four kinds, and never runs the handler", async () => {
    const { client, url } = await start({ routes: (r) => r.service(TestService, service), interceptors: [auth] });
    handled = 0;
    const calls: Array<() => Promise<unknown>> = [
      () => client.unaryCall({ responseSize: 1 }),
      () => collect(client.streamingOutputCall({ responseParameters: [{ size: 1 }] })),
      () => client.streamingInputCall(sizes(1, 2)),
      () => collect(client.fullDuplexCall(sizes(1, 2))),
    ];
    for (const call of calls) {
      const error = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ConnectError);
      expect((error as ConnectError).code).toBe(Code.Unauthenticated);
      expect((error as ConnectError).rawMessage).toBe("missing or bad credentials");
    }
    expect(handled).toBe(0);

    // On the wire: TRAILERS without HEADERS, for a unary and a bidi call.
    const raw = await testClient(url);
    const unary = await raw.call(`${TS}/UnaryCall`, [toBinary(SimpleRequestSchema, create(SimpleRequestSchema))]).done;
    const bidi = await raw.call(`${TS}/FullDuplexCall`, []).done;
    for (const outcome of [unary, bidi]) {
      expect(outcome.status?.code).toBe(Status.UNAUTHENTICATED);
      expect(outcome.headers).toBeUndefined();
      expect(outcome.messages).toHaveLength(0);
    }
    expect(handled).toBe(0);
  });

  test("lets authorised calls through for all four kinds; the context value it sets reaches the handler", async () => {
    const { client } = await start({ routes: (r) => r.service(TestService, service), interceptors: [auth] });
    const unary = await client.unaryCall({ responseSize: 3 }, ok);
    expect(unary.username).toBe("alice");
    expect(unary.payload?.body.length).toBe(3);
    const out = await collect(client.streamingOutputCall({ responseParameters: [{ size: 1 }, { size: 2 }] }, ok));
    expect(out.map((m) => m.payload?.body.length)).toEqual([1, 2]);
    const input = await client.streamingInputCall(sizes(1, 2, 3), ok);
    expect(input.aggregatedPayloadSize).toBe(6 + "alice".length * 1000);
    const bidi = await collect(client.fullDuplexCall(sizes(4, 5), ok));
    expect(bidi.map((m) => m.payload?.body.length)).toEqual([4, 5]);
  });
});

describe("order and composition", () => {
  test("bridge interceptors are outermost, then the service's, first in each list outermost; the handler is innermost", async () => {
    const log: string[] = [];
    const tag =
      (name: string): Interceptor =>
      (next) =>
      async (req) => {
        log.push(`>${name}`);
        const res = await next(req);
        log.push(`<${name}`);
        return res;
      };
    const { client } = await start({
      interceptors: [tag("bridge1"), tag("bridge2")],
      routes: (r) =>
        r.service(
          TestService,
          {
            emptyCall: () => {
              log.push("handler");
              return {};
            },
          },
          { interceptors: [tag("service1"), tag("service2")] },
        ),
    });
    await client.emptyCall({});
    expect(log).toEqual([
      ">bridge1",
      ">bridge2",
      ">service1",
      ">service2",
      "handler",
      "<service2",
      "<service1",
      "<bridge2",
      "<bridge1",
    ]);
  });

  test("a routes function typed against Connect's ConnectRouter registers service and rpc interceptors unchanged", async () => {
    const seen: string[] = [];
    const record =
      (where: string): Interceptor =>
      (next) =>
      (req) => {
        seen.push(`${where}:${req.method.name}`);
        return next(req);
      };
    function routes(router: ConnectRouter): void {
      router.service(TestService, { emptyCall: () => ({}) }, { interceptors: [record("service")] });
      router.rpc(TestService.method.unaryCall, (req) => ({ payload: { body: new Uint8Array(req.responseSize) } }), {
        interceptors: [record("rpc")],
      });
    }
    const { client } = await start({ routes });
    await client.emptyCall({});
    expect((await client.unaryCall({ responseSize: 2 })).payload?.body.length).toBe(2);
    expect(seen).toEqual(["service:EmptyCall", "rpc:UnaryCall"]);
  });

  test("the request an interceptor sees describes the call; a replaced header and message reach the handler", async () => {
    let seen: Record<string, unknown> | undefined;
    const rewrite: Interceptor = (next) => async (req) => {
      seen = {
        stream: req.stream,
        url: req.url,
        requestMethod: req.requestMethod,
        service: req.service.typeName,
        method: req.method.name,
        aborted: req.signal.aborted,
      };
      if (req.stream) return next(req);
      const header = new Headers(req.header);
      header.set("x-scope", "rewritten");
      const message: SimpleRequest = { ...(req.message as SimpleRequest), responseSize: 7 };
      return next({ ...req, header, message });
    };
    const { client, url } = await start({ routes: (r) => r.service(TestService, service), interceptors: [rewrite] });
    const res = await client.unaryCall({ responseSize: 1 }, { headers: { "x-scope": "original" } });
    expect(res.oauthScope).toBe("rewritten");
    expect(res.payload?.body.length).toBe(7);
    expect(seen).toEqual({
      stream: false,
      url: `http://${new URL(url).host}${TS}/UnaryCall`,
      requestMethod: "POST",
      service: "grpc.testing.TestService",
      method: "UnaryCall",
      aborted: false,
    });
    await client.streamingInputCall(sizes(1));
    expect(seen).toMatchObject({ stream: true, method: "StreamingInputCall" });
  });
});

describe("responses", () => {
  const decorate: Interceptor = (next) => async (req) => {
    const res = await next(req);
    res.header.set("x-intercepted", req.method.name);
    res.trailer.set("x-trailer", "from-interceptor");
    return res;
  };

  test("response headers and trailers an interceptor sets reach the client, for unary and streaming calls", async () => {
    const { client } = await start({ routes: (r) => r.service(TestService, service), interceptors: [decorate] });
    const got = (): { header?: Headers; trailer?: Headers; options: CallOptions } => {
      const g: { header?: Headers; trailer?: Headers; options: CallOptions } = { options: {} };
      g.options = { onHeader: (h) => (g.header = h), onTrailer: (t) => (g.trailer = t) };
      return g;
    };
    const unary = got();
    await client.unaryCall({}, unary.options);
    expect(unary.header?.get("x-intercepted")).toBe("UnaryCall");
    expect(unary.trailer?.get("x-trailer")).toBe("from-interceptor");

    const stream = got();
    expect(
      await collect(client.streamingOutputCall({ responseParameters: [{ size: 1 }, { size: 1 }] }, stream.options)),
    ).toHaveLength(2);
    expect(stream.header?.get("x-intercepted")).toBe("StreamingOutputCall");
    expect(stream.trailer?.get("x-trailer")).toBe("from-interceptor");

    const input = got();
    await client.streamingInputCall(sizes(1), input.options);
    expect(input.header?.get("x-intercepted")).toBe("StreamingInputCall");
    expect(input.trailer?.get("x-trailer")).toBe("from-interceptor");
  });

  test("an interceptor that replaces the response headers, trailers and unary message", async () => {
    const replace: Interceptor = (next) => async (req) => {
      const res = await next(req);
      if (res.stream) return res;
      return {
        ...res,
        header: new Headers({ "x-new": "h" }),
        trailer: new Headers({ "x-new-trailer": "t" }),
        message: { ...res.message, username: "replaced" },
      };
    };
    const { client } = await start({ routes: (r) => r.service(TestService, service), interceptors: [replace, auth] });
    let header: Headers | undefined;
    let trailer: Headers | undefined;
    const res = await client.unaryCall(
      {},
      { headers: { authorization: "Bearer good" }, onHeader: (h) => (header = h), onTrailer: (t) => (trailer = t) },
    );
    expect(res.username).toBe("replaced");
    expect(header?.get("x-new")).toBe("h");
    expect(trailer?.get("x-new-trailer")).toBe("t");
  });

  test("an interceptor that throws something other than a ConnectError ends the call UNKNOWN", async () => {
    const broken: Interceptor = () => () => {
      throw new Error("secret internals");
    };
    const { client } = await start({ routes: (r) => r.service(TestService, service), interceptors: [broken] });
    await expect(client.unaryCall({})).rejects.toMatchObject({ code: Code.Unknown });
    await expect(collect(client.fullDuplexCall(sizes(1)))).rejects.toMatchObject({ code: Code.Unknown });
  });
});

describe("streams", () => {
  test("an interceptor that wraps both streams counts every message and may change them", async () => {
    const counts = { requests: 0, responses: 0 };
    const counting: Interceptor = (next) => async (req) => {
      if (!req.stream) return next(req);
      const requests = req.message;
      const res = (await next({
        ...req,
        message: (async function* () {
          for await (const m of requests) {
            counts.requests++;
            yield m;
          }
        })(),
      })) as StreamResponse;
      const responses = res.message;
      return {
        ...res,
        message: (async function* () {
          for await (const m of responses) {
            counts.responses++;
            yield m;
          }
        })(),
      };
    };
    const { client } = await start({ routes: (r) => r.service(TestService, service), interceptors: [counting] });
    const bidi = await collect(client.fullDuplexCall(sizes(1, 2, 3)));
    expect(bidi).toHaveLength(3);
    expect(counts).toEqual({ requests: 3, responses: 3 });
    expect((await client.streamingInputCall(sizes(1, 2))).aggregatedPayloadSize).toBe(3);
    expect(counts).toEqual({ requests: 5, responses: 4 });
    expect(await collect(client.streamingOutputCall({ responseParameters: [{ size: 1 }, { size: 1 }] }))).toHaveLength(
      2,
    );
    expect(counts).toEqual({ requests: 6, responses: 6 });
  });

  test("with a stream-wrapping interceptor, a stalled reader still pauses the handler, and the rest arrives on resume", async () => {
    const MESSAGE = 16 * 1024;
    const COUNT = 100;
    let produced = 0;
    const passThrough: Interceptor = (next) => async (req) => {
      const res = await next(req);
      if (!res.stream) return res;
      const inner = res.message;
      return {
        ...res,
        message: (async function* () {
          yield* inner;
        })(),
      };
    };
    const { bridge, url } = await start({
      interceptors: [passThrough],
      writeHighWaterMark: 64 * 1024,
      routes: (r) =>
        r.rpc(TestService.method.streamingOutputCall, async function* () {
          for (let i = 0; i < COUNT; i++) {
            produced++;
            yield { payload: { body: new Uint8Array(MESSAGE) } };
          }
        }),
    });
    const WINDOW = 64 * 1024;
    const raw = await testClient(url, { initialStreamWindow: WINDOW });
    const request = toBinary(StreamingOutputCallRequestSchema, create(StreamingOutputCallRequestSchema));
    const stalled = raw.call(`${TS}/StreamingOutputCall`, [request], { read: false });
    const serverStream = (): Stream | undefined => {
      const sessions = (bridge as unknown as { sessions: Session[] }).sessions;
      for (const s of sessions) {
        const stream = s.stream(stalled.stream.id);
        if (stream) return stream;
      }
      return undefined;
    };
    await until(() => serverStream()?.writable === false, "the stalled stream to stop being writable");
    // The wire may hold up to two windows unread on the client side, then the queue up to the
    // high-water mark, and each generator layer may hold one message.
    expect(serverStream()!.pendingBytes).toBeLessThanOrEqual(64 * 1024 + MESSAGE + 5);
    expect(produced).toBeLessThanOrEqual(Math.ceil((2 * WINDOW + 64 * 1024 + MESSAGE) / MESSAGE) + 3);
    expect(produced).toBeLessThan(COUNT);
    stalled.resume();
    const outcome = await stalled.done;
    expect(outcome.status?.code).toBe(Status.OK);
    expect(outcome.messages).toHaveLength(COUNT);
  });

  test("a client cancel aborts ctx.signal and runs the handler's finally through a wrapping interceptor", async () => {
    let aborted = false;
    let finalized = false;
    let interceptorSawAbort = false;
    const wrap: Interceptor = (next) => async (req) => {
      req.signal.addEventListener("abort", () => (interceptorSawAbort = true));
      const res = (await next(req)) as StreamResponse;
      const inner = res.message;
      return {
        ...res,
        message: (async function* () {
          for await (const m of inner) yield m;
        })(),
      };
    };
    const { client } = await start({
      interceptors: [wrap],
      routes: (r) =>
        r.rpc(TestService.method.fullDuplexCall, async function* (_reqs, ctx) {
          ctx.signal.addEventListener("abort", () => (aborted = true));
          try {
            // Bounded: the test cancels after the first message.
            for (let i = 0; i < 10_000 && !ctx.signal.aborted; i++) {
              yield { payload: { body: new Uint8Array(8) } };
              await new Promise((resolve) => setTimeout(resolve, 1));
            }
          } finally {
            finalized = true;
          }
        }),
    });
    const abort = new AbortController();
    const requests = (async function* () {
      await new Promise<void>((resolve) => abort.signal.addEventListener("abort", () => resolve()));
    })();
    const received: unknown[] = [];
    const error = await (async () => {
      for await (const m of client.fullDuplexCall(requests, { signal: abort.signal })) {
        received.push(m);
        abort.abort();
      }
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(ConnectError.from(error).code).toBe(Code.Canceled);
    expect(received).toHaveLength(1);
    await until(() => aborted && finalized && interceptorSawAbort, "the handler to see the cancel");
  });

  test("a deadline aborts the signal an interceptor is waiting on and ends the call DEADLINE_EXCEEDED", async () => {
    let reason: unknown;
    const slow: Interceptor = (next) => async (req) => {
      await new Promise<void>((resolve) => req.signal.addEventListener("abort", () => resolve(), { once: true }));
      reason = req.signal.reason;
      return next(req);
    };
    const { url } = await start({ routes: (r) => r.service(TestService, service), interceptors: [slow] });
    handled = 0;
    // The raw client keeps no deadline timer of its own, so only the bridge's deadline can end the
    // call (a Connect client would race it with its own cancel).
    const raw = await testClient(url);
    const outcome = await raw.call(`${TS}/UnaryCall`, [toBinary(SimpleRequestSchema, create(SimpleRequestSchema))], {
      timeoutMs: 100,
    }).done;
    expect(outcome.status?.code).toBe(Status.DEADLINE_EXCEEDED);
    await until(() => reason !== undefined, "the interceptor to see the deadline");
    expect(ConnectError.from(reason).code).toBe(Code.DeadlineExceeded);
  });
});

test("without interceptors the route calls the user's function itself", () => {
  const impl = () => ({});
  const plain = new BridgeRouter(undefined, undefined).rpc(TestService.method.emptyCall, impl);
  expect(plain.routes.get(`${TS}/EmptyCall`)?.impl).toBe(impl);
  const wrapped = new BridgeRouter(undefined, undefined, [(next) => next]).rpc(TestService.method.emptyCall, impl);
  expect(wrapped.routes.get(`${TS}/EmptyCall`)?.impl).not.toBe(impl);
});

describe("requestGate", () => {
  test("runs before the request is read: a throw ends the call trailers-only; a value it sets reaches interceptors and handler", async () => {
    const order: string[] = [];
    const { client, url } = await start({
      interceptors: [
        (next) => (req) => {
          order.push(`interceptor:${req.contextValues.get(USER)}`);
          return next(req);
        },
      ],
      routes: (r) =>
        r.service(TestService, service, {
          async requestGate(ctx) {
            await Promise.resolve();
            if (ctx.requestHeader.get("authorization") !== "Bearer good")
              throw new ConnectError("gate closed", Code.PermissionDenied);
            ctx.values.set(USER, "gated");
            order.push("gate");
          },
        }),
    });
    handled = 0;
    await expect(client.unaryCall({})).rejects.toMatchObject({
      code: Code.PermissionDenied,
      rawMessage: "gate closed",
    });
    await expect(client.streamingInputCall(sizes(1, 2))).rejects.toMatchObject({ code: Code.PermissionDenied });
    const raw = await testClient(url);
    const refused = await raw.call(`${TS}/FullDuplexCall`, [], { end: false }).done;
    expect(refused.status?.code).toBe(Status.PERMISSION_DENIED);
    expect(refused.headers).toBeUndefined();
    expect(handled).toBe(0);
    expect(order).toEqual([]);

    const ok = { headers: { authorization: "Bearer good" } };
    expect((await client.unaryCall({}, ok)).username).toBe("gated");
    expect(await collect(client.fullDuplexCall(sizes(1, 2), ok))).toHaveLength(2);
    expect(order).toEqual(["gate", "interceptor:gated", "gate", "interceptor:gated"]);
  });
});

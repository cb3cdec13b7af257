// How a handler's view of its call (request iterator, signal, generator) ends, whichever way the call ends.
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues, type HandlerContext } from "@connectrpc/connect";
import { ErrorCode, Status, type Session } from "@grpc-ws/wire";
import { beforeEach, describe, expect, test } from "vitest";
import {
  StreamingInputCallRequestSchema,
  StreamingOutputCallRequestSchema,
} from "../../../gen/grpc/testing/messages_pb.js";
import { TestService } from "../../../gen/grpc/testing/test_pb.js";
import { CALL_COMPLETE } from "./handler-context.js";
import { createWebSocketBridge, type CallEndInfo } from "./index.js";
import { useBridge } from "./bridge-fixture.test-util.js";
import { TestClient, until, type TestCall } from "./test-client.test-util.js";

const TS = "/grpc.testing.TestService";
const request = toBinary(
  StreamingInputCallRequestSchema,
  create(StreamingInputCallRequestSchema, { payload: { body: new Uint8Array(3) } }),
);

/** How the handler's `for await` over its requests ended: "completed" or the thrown error's code. */
let iteration: Array<"completed" | Code> = [];
let generatorFinally = 0;
let yieldedAfterEnd = 0;
let ended: CallEndInfo[] = [];

/** The wire session of the bridge's only connection. */
function serverSession(): Session | undefined {
  return (fx.bridge as unknown as { sessions: Session[] }).sessions[0];
}

const fx = useBridge({
  routes(router) {
    router.rpc(TestService.method.streamingInputCall, async (requests) => {
      let size = 0;
      try {
        for await (const req of requests) size += req.payload?.body.length ?? 0;
        iteration.push("completed");
      } catch (e) {
        iteration.push(ConnectError.from(e).code);
        throw e;
      }
      return { aggregatedPayloadSize: size };
    });
    // Returns after the first request without reading the rest.
    router.rpc(TestService.method.fullDuplexCall, async function* (requests) {
      for await (const _ of requests) {
        yield {};
        return;
      }
    });
    // Ignores its signal: keeps yielding after the call has ended.
    router.rpc(TestService.method.streamingOutputCall, async function* (_req, ctx) {
      try {
        for (let i = 0; i < 2000; i++) {
          if (ctx.signal.aborted) yieldedAfterEnd++;
          yield {};
          await new Promise((r) => setTimeout(r, 1));
        }
      } finally {
        generatorFinally++;
      }
    });
  },
  keepalive: false,
  onCallEnd: (info) => ended.push(info),
});

beforeEach(() => {
  iteration = [];
  ended = [];
  generatorFinally = 0;
  yieldedAfterEnd = 0;
});

describe("a request iterator the handler is waiting on", () => {
  /** A StreamingInputCall left open, once its handler has taken the first request and waits for more. */
  async function waitingCall(): Promise<TestCall> {
    const client = await fx.connect();
    const call = client.call(`${TS}/StreamingInputCall`, [request], { end: false });
    await until(() => serverSession()?.stream(call.stream.id)?.readableLength === 0, "the handler to take the request");
    return call;
  }

  /** How the handler's loop ended, once it has. */
  async function loopEnd(): Promise<typeof iteration> {
    await until(() => iteration.length === 1, "the handler's loop to end");
    return iteration;
  }

  test("throws DeadlineExceeded when the deadline passes, instead of ending as if the client half-closed", async () => {
    const client = await fx.connect();
    const call = client.call(`${TS}/StreamingInputCall`, [request], { end: false, timeoutMs: 100 });
    expect((await call.done).status?.code).toBe(Status.DEADLINE_EXCEEDED);
    expect(await loopEnd()).toEqual([Code.DeadlineExceeded]);
  });

  test("throws Canceled when the client resets the call", async () => {
    const call = await waitingCall();
    call.stream.reset(ErrorCode.CANCEL);
    expect(await loopEnd()).toEqual([Code.Canceled]);
  });

  test("throws Internal when a request does not decode", async () => {
    const call = await waitingCall();
    call.stream.write(new Uint8Array([0x0a, 0x50, 0x01]));
    expect((await call.done).status?.code).toBe(Status.INTERNAL);
    expect(await loopEnd()).toEqual([Code.Internal]);
  });

  test("ends normally when the client half-closes", async () => {
    const client = await fx.connect();
    const outcome = await client.call(`${TS}/StreamingInputCall`, [request, request]).done;
    expect(outcome.status?.code).toBe(Status.OK);
    expect(iteration).toEqual(["completed"]);
  });
});

describe("a handler that stops early or ignores its signal", () => {
  test("bidi returning without reading every request ends the call OK; later DATA is ignored and the connection goes on", async () => {
    const client = await fx.connect();
    const call = client.call(
      `${TS}/FullDuplexCall`,
      [toBinary(StreamingOutputCallRequestSchema, create(StreamingOutputCallRequestSchema))],
      { end: false },
    );
    const outcome = await call.done;
    expect(outcome.status?.code).toBe(Status.OK);
    expect(outcome.messages).toHaveLength(1);
    expect(serverSession()?.activeStreams).toBe(0);
    // The client's stream is closed locally; frames for the finished stream sent raw must be ignored.
    const again = client.call(`${TS}/StreamingInputCall`, [request]);
    expect((await again.done).status?.code).toBe(Status.OK);
    expect(ended.filter((e) => e.method === `${TS}/FullDuplexCall`)).toHaveLength(1);
  });

  test("a generator that ignores the deadline is stopped: nothing more is sent, its finally runs, the call ends once", async () => {
    const client = await fx.connect();
    const call = client.call(`${TS}/StreamingOutputCall`, [new Uint8Array(0)], { timeoutMs: 100 });
    const outcome = await call.done;
    expect(outcome.status?.code).toBe(Status.DEADLINE_EXCEEDED);
    await until(() => generatorFinally === 1, "the generator's finally block");
    expect(yieldedAfterEnd).toBeLessThanOrEqual(1);
    expect(ended.filter((e) => e.method === `${TS}/StreamingOutputCall`).map((e) => e.code)).toEqual([
      Status.DEADLINE_EXCEEDED,
    ]);
  });
});

describe("user hooks that throw", () => {
  test("a throwing contextValues fails the call INTERNAL and a throwing onCallEnd is ignored; the connection goes on", async () => {
    let failContext = true;
    const hooked = createWebSocketBridge({
      routes: (router) => router.rpc(TestService.method.emptyCall, () => ({})),
      contextValues: () => {
        if (failContext) throw new Error("context lookup failed");
        return createContextValues();
      },
      onCallEnd: () => {
        throw new Error("logger failed");
      },
      keepalive: false,
    });
    const { url: hookedUrl } = await hooked.listen();
    const client = await TestClient.connect(hookedUrl);
    try {
      const failed = await client.call(`${TS}/EmptyCall`, [new Uint8Array(0)]).done;
      expect(failed.status?.code).toBe(Status.INTERNAL);
      failContext = false;
      const ok = await client.call(`${TS}/EmptyCall`, [new Uint8Array(0)]).done;
      expect(ok.status?.code).toBe(Status.OK);
      expect(client.closeEvent).toBeUndefined();
    } finally {
      await client.close();
      await hooked.close({ drainTimeoutMs: 100 });
    }
  });
});

describe("the handler's signal, made only when read", () => {
  test("read during the call it fires once at completion; first read after the call it is already aborted with the same reason", async () => {
    const contexts: HandlerContext[] = [];
    const fired: unknown[] = [];
    const bridge = createWebSocketBridge({
      routes: (router) =>
        router
          .rpc(TestService.method.emptyCall, (_req, ctx) => {
            // The first call only keeps its context; the second listens during the call.
            if (contexts.length === 0) contexts.push(ctx);
            else ctx.signal.addEventListener("abort", () => fired.push(ctx.signal.reason));
            return {};
          })
          .rpc(TestService.method.unaryCall, (_req, ctx) => {
            contexts.push(ctx);
            throw new ConnectError("refused", Code.PermissionDenied);
          }),
      keepalive: false,
    });
    const { url } = await bridge.listen();
    const client = await TestClient.connect(url);
    try {
      expect((await client.call(`${TS}/EmptyCall`, [new Uint8Array(0)]).done).status?.code).toBe(Status.OK);
      expect((await client.call(`${TS}/UnaryCall`, [new Uint8Array(0)]).done).status?.code).toBe(
        Status.PERMISSION_DENIED,
      );
      expect((await client.call(`${TS}/EmptyCall`, [new Uint8Array(0)]).done).status?.code).toBe(Status.OK);
      const [ok, failed] = contexts;
      expect(ok!.signal.aborted).toBe(true);
      expect(ok!.signal.reason).toBe(CALL_COMPLETE);
      expect(failed!.signal.aborted).toBe(true);
      expect(ConnectError.from(failed!.signal.reason).code).toBe(Code.PermissionDenied);
      expect(fired).toEqual([CALL_COMPLETE]);
    } finally {
      await client.close();
      await bridge.close({ drainTimeoutMs: 100 });
    }
  });
});

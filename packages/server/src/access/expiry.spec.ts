// Long-lived sockets and expiring credentials: the bridge drains a connection whose credentials
// expired (GOAWAY, calls in flight finish), the client reconnects with a fresh token from its token
// function, and a call that outlives the drain is cancelled.
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createWebSocketTransport } from "@grpc-ws/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestService } from "../../../../gen/grpc/testing/test_pb.js";
import { createWebSocketBridge, type WebSocketBridge } from "../index.js";
import { until } from "../test-client.test-util.js";
import { connectionOf } from "./connection-info.js";
import { CREDENTIALS_EXPIRED } from "./expiry.js";

const LIFETIME_MS = 400;
const DRAIN_MS = 1500;

let bridge: WebSocketBridge;
let url = "";
const identities: unknown[] = [];
const issued: string[] = [];

beforeAll(async () => {
  bridge = createWebSocketBridge({
    keepalive: false,
    drainTimeoutMs: DRAIN_MS,
    authenticate: (req) => {
      if (!req.token?.startsWith("session-")) throw new ConnectError("no token", Code.Unauthenticated);
      return { identity: req.token, expiresAt: new Date(Date.now() + LIFETIME_MS) };
    },
    routes: (router) => {
      router.rpc(TestService.method.unaryCall, (_req, ctx) => {
        identities.push(connectionOf(ctx.values).identity);
        return {};
      });
      // Six messages 150 ms apart: runs across the expiry.
      router.rpc(TestService.method.streamingOutputCall, async function* (_req, ctx) {
        for (let i = 0; i < 6; i++) {
          await new Promise((resolve) => setTimeout(resolve, 150));
          if (ctx.signal.aborted) return;
          yield { payload: { body: new Uint8Array([i]) } };
        }
      });
      // Never ends on its own.
      router.rpc(TestService.method.fullDuplexCall, async function* (_req, ctx) {
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
        yield* [];
      });
    },
  });
  ({ url } = await bridge.listen());
});

afterAll(() => bridge?.close({ drainTimeoutMs: 100 }));

describe("expired credentials", () => {
  it("drain the connection: a call in flight finishes, the client reconnects with a fresh token, new calls succeed", async () => {
    const transport = createWebSocketTransport({
      url,
      keepalive: false,
      token: async () => {
        const token = `session-${issued.length + 1}`;
        issued.push(token);
        return token;
      },
    });
    const states: string[] = [];
    transport.onStateChange((s) => states.push(s));
    const service = createClient(TestService, transport);
    try {
      await service.unaryCall({});
      expect(identities).toEqual(["session-1"]);
      const received: number[] = [];
      for await (const res of service.streamingOutputCall({})) received.push(res.payload!.body[0]!);
      // The stream ran past the expiry and was not cut.
      expect(received).toEqual([0, 1, 2, 3, 4, 5]);
      await until(() => states.includes("idle") || bridge.connections === 0, "the expired connection to be retired");
      await service.unaryCall({});
      expect(issued).toEqual(["session-1", "session-2"]);
      expect(identities).toEqual(["session-1", "session-2"]);
    } finally {
      await transport.close();
    }
  });

  it("a call still running when the drain time is up is cancelled as Unavailable", async () => {
    const transport = createWebSocketTransport({ url, keepalive: false, token: "session-static" });
    const service = createClient(TestService, transport);
    try {
      const started = performance.now();
      let error: ConnectError | undefined;
      try {
        for await (const _ of service.fullDuplexCall((async function* () {})())) {
          // no messages
        }
      } catch (e) {
        error = ConnectError.from(e);
      }
      expect(error?.code).toBe(Code.Unavailable);
      expect(error?.rawMessage).toContain(CREDENTIALS_EXPIRED);
      expect(performance.now() - started).toBeGreaterThanOrEqual(LIFETIME_MS + DRAIN_MS - 50);
    } finally {
      await transport.close();
    }
  });
});

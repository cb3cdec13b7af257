// Long-lived sockets and expiring credentials: the bridge drains a connection whose credentials
// expired (GOAWAY, calls in flight finish), the client reconnects with a fresh token from its token
// function, and a call that outlives the drain is cancelled.
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createWebSocketTransport } from "@grpc-ws/client";
import type { Session } from "@grpc-ws/wire";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestService } from "../../../../gen/grpc/testing/test_pb.js";
import { createWebSocketBridge, type WebSocketBridge } from "../index.js";
import { until } from "../test-client.test-util.js";
import { connectionOf } from "./connection-info.js";
import { CREDENTIALS_EXPIRED } from "./expiry.js";

const LIFETIME_MS = 1500;
const DRAIN_MS = 1500;

let bridge: WebSocketBridge;
const sessions = () => (bridge as unknown as { sessions: Session[] }).sessions;
let url = "";
const identities: unknown[] = [];
const issued: string[] = [];

beforeAll(async () => {
  bridge = createWebSocketBridge({
    keepalive: false,
    drainTimeoutMs: DRAIN_MS,
    onRefused: () => undefined,
    authenticate: (req) => {
      if (req.token === "already-expired") return { identity: "late", expiresAt: Date.now() - 1 };
      if (!req.token?.startsWith("session-")) throw new ConnectError("no token", Code.Unauthenticated);
      return { identity: req.token, expiresAt: new Date(Date.now() + LIFETIME_MS) };
    },
    routes: (router) => {
      router.rpc(TestService.method.unaryCall, (_req, ctx) => {
        identities.push(connectionOf(ctx.values).identity);
        return {};
      });
      // One message, then (once its connection's credentials expired and it drains) five more.
      router.rpc(TestService.method.streamingOutputCall, async function* (_req, ctx) {
        identities.push(connectionOf(ctx.values).identity);
        yield { payload: { body: new Uint8Array([0]) } };
        await until(() => sessions().some((s) => s.draining), "the connection to drain", 2 * LIFETIME_MS);
        for (let i = 1; i < 6; i++) yield { payload: { body: new Uint8Array([i]) } };
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
      const received: number[] = [];
      for await (const res of service.streamingOutputCall({})) received.push(res.payload!.body[0]!);
      expect(identities).toEqual(["session-1"]);
      // The stream ran past the expiry (GOAWAY) and was not cut.
      expect(received).toEqual([0, 1, 2, 3, 4, 5]);
      await until(() => states.includes("idle") || bridge.connections === 0, "the expired connection to be retired");
      await service.unaryCall({});
      expect(issued).toEqual(["session-1", "session-2"]);
      expect(identities).toEqual(["session-1", "session-2"]);
    } finally {
      await transport.close();
    }
  });

  it("credentials that expired before the upgrade are refused as Unauthenticated", async () => {
    const transport = createWebSocketTransport({ url, keepalive: false, token: "already-expired" });
    try {
      await expect(createClient(TestService, transport).unaryCall({})).rejects.toMatchObject({
        code: Code.Unauthenticated,
        rawMessage: "credentials expired",
      });
      expect(transport.state).toBe("refused");
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

import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createWebSocketTransport } from "@grpc-ws/client";
import { createTestServiceImpl } from "@grpc-ws/interop";
import { afterEach, describe, expect, test } from "vitest";
import { TestService } from "../../../gen/grpc/testing/test_pb.js";
import {
  createWebSocketBridge,
  type ConnectionCloseInfo,
  type ConnectionInfo,
  type WebSocketBridgeOptions,
} from "./index.js";
import { until } from "./test-client.test-util.js";

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function start(maxConnectionAge: WebSocketBridgeOptions["maxConnectionAge"]) {
  const opened: ConnectionInfo[] = [];
  const closed: ConnectionCloseInfo[] = [];
  const bridge = createWebSocketBridge({
    routes: (r) => r.service(TestService, createTestServiceImpl()),
    keepalive: false,
    maxConnectionAge,
    onConnectionOpen: (info) => opened.push(info),
    onConnectionClose: (info) => closed.push(info),
  });
  const { url } = await bridge.listen();
  cleanup.push(() => bridge.close({ drainTimeoutMs: 100 }));
  const transport = createWebSocketTransport({ url, keepalive: false });
  cleanup.push(() => transport.close());
  return { bridge, url, opened, closed, transport, client: createClient(TestService, transport) };
}

describe("maxConnectionAge", () => {
  test("an idle connection is drained at its age and the client's next call opens a new one; no call fails", async () => {
    const { client, opened, closed } = await start({ maxAgeMs: 300, jitter: 0 });
    const started = Date.now();
    let calls = 0;
    // Steady calls across two ages: every one succeeds.
    while (Date.now() - started < 1_000 && calls < 500) {
      await client.emptyCall({});
      calls++;
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(calls).toBeGreaterThan(10);
    expect(opened.length).toBeGreaterThanOrEqual(3);
    await until(() => closed.length >= 2, "aged connections to close");
    for (const c of closed) {
      expect(c.reason).toBe("max connection age");
      expect(c.durationMs).toBeGreaterThanOrEqual(290);
      expect(c.durationMs).toBeLessThan(3_000);
    }
  });

  test("a stream open at the age finishes on the old connection when there is no grace limit", async () => {
    const { client, opened, closed } = await start({ maxAgeMs: 200, jitter: 0 });
    const responses: number[] = [];
    // Five messages 100 ms apart: the stream outlives the age by 300 ms.
    for await (const r of client.streamingOutputCall({
      responseParameters: Array.from({ length: 5 }, () => ({ size: 1, intervalUs: 100_000 })),
    }))
      responses.push(r.payload?.body.length ?? -1);
    expect(responses).toEqual([1, 1, 1, 1, 1]);
    await until(() => closed.length === 1, "the aged connection to close once idle");
    expect(closed[0]!.durationMs).toBeGreaterThanOrEqual(450);
    expect(opened).toHaveLength(1);
  });

  test("graceMs: a stream still open when the grace ends is cancelled with UNAVAILABLE and the socket closes", async () => {
    const { client, closed } = await start({ maxAgeMs: 200, jitter: 0, graceMs: 200 });
    const startedAt = Date.now();
    const error = await (async () => {
      try {
        for await (const _ of client.streamingOutputCall({
          responseParameters: Array.from({ length: 20 }, () => ({ size: 1, intervalUs: 100_000 })),
        }));
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.Unavailable);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(390);
    expect(Date.now() - startedAt).toBeLessThan(5_000);
    await until(() => closed.length === 1, "the socket to close");
    expect(closed[0]!.reason).toBe("max connection age: grace period over");
  });

  test("jitter spreads the ages of connections opened together within ± the fraction", async () => {
    const { url, closed } = await start({ maxAgeMs: 400, jitter: 0.5 });
    const transports = Array.from({ length: 12 }, () => createWebSocketTransport({ url, keepalive: false }));
    cleanup.push(() => Promise.all(transports.map((t) => t.close())));
    await Promise.all(transports.map((t) => t.connect()));
    await until(() => closed.length === 12, "every connection to age out", 3_000);
    const ages = closed.map((c) => c.durationMs);
    expect(Math.min(...ages)).toBeGreaterThanOrEqual(195);
    expect(Math.max(...ages)).toBeLessThan(1_000);
    // Twelve draws from a 400 ms wide range are not all within 20 ms of each other.
    expect(Math.max(...ages) - Math.min(...ages)).toBeGreaterThan(20);
  });

  test("bad values fail at creation", () => {
    expect(() => createWebSocketBridge({ maxConnectionAge: { maxAgeMs: 0 } })).toThrow(RangeError);
    expect(() => createWebSocketBridge({ maxConnectionAge: { maxAgeMs: Number.NaN } })).toThrow(RangeError);
    expect(() => createWebSocketBridge({ maxConnectionAge: { maxAgeMs: 1000, jitter: 1 } })).toThrow(/jitter/);
    expect(() => createWebSocketBridge({ maxConnectionAge: { maxAgeMs: 1000, graceMs: -1 } })).toThrow(/graceMs/);
  });
});

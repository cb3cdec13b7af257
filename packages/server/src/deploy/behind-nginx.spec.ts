import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createWebSocketTransport, type KeepaliveSettings, type WebSocketTransport } from "@grpc-ws/client";
import { createTestServiceImpl } from "@grpc-ws/interop";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import {
  StreamingInputCallRequestSchema,
  StreamingOutputCallRequestSchema,
} from "../../../../gen/grpc/testing/messages_pb.js";
import { TestService } from "../../../../gen/grpc/testing/test_pb.js";
import {
  createWebSocketBridge,
  type CallEndInfo,
  type WebSocketBridge,
  type WebSocketBridgeOptions,
} from "../index.js";
import { startNginx, type Nginx } from "./nginx.test-util.js";

// nginx's proxy_read_timeout, short for the test (60 s by default).
const IDLE_TIMEOUT_S = 3;

const transports: WebSocketTransport[] = [];
afterEach(async () => {
  await Promise.all(transports.splice(0).map((t) => t.close()));
});

async function behindNginx(
  options: Partial<WebSocketBridgeOptions> = {},
): Promise<{ bridge: WebSocketBridge; nginx: Nginx; ended: CallEndInfo[] }> {
  const ended: CallEndInfo[] = [];
  const bridge = createWebSocketBridge({
    routes: (r) => r.service(TestService, createTestServiceImpl()),
    onCallEnd: (i) => ended.push(i),
    ...options,
  });
  const { port } = await bridge.listen();
  try {
    return { bridge, nginx: await startNginx({ upstreams: [port], idleTimeoutS: IDLE_TIMEOUT_S }), ended };
  } catch (error) {
    await bridge.close({ drainTimeoutMs: 100 });
    throw error;
  }
}

function clientTo(url: string, keepalive: KeepaliveSettings | false = false) {
  const transport = createWebSocketTransport({ url, keepalive });
  transports.push(transport);
  return createClient(TestService, transport);
}

async function* requests(n: number) {
  for (let i = 0; i < n; i++)
    yield create(StreamingInputCallRequestSchema, { payload: { body: new Uint8Array(10 * (i + 1)) } });
}

describe("through a real nginx", () => {
  let setup: Awaited<ReturnType<typeof behindNginx>>;
  beforeAll(async () => {
    setup = await behindNginx({ keepalive: false });
  });
  afterAll(async () => {
    await setup?.nginx.stop();
    await setup?.bridge.close({ drainTimeoutMs: 100 });
  });

  test("calls of all four kinds on one WebSocket", async () => {
    const client = clientTo(setup.nginx.url);
    const unary = await client.unaryCall({ responseSize: 100, payload: { body: new Uint8Array(50) } });
    expect(unary.payload?.body.length).toBe(100);

    const sizes: number[] = [];
    for await (const r of client.streamingOutputCall({ responseParameters: [{ size: 1 }, { size: 2 }, { size: 3 }] }))
      sizes.push(r.payload!.body.length);
    expect(sizes).toEqual([1, 2, 3]);

    const input = await client.streamingInputCall(requests(4));
    expect(input.aggregatedPayloadSize).toBe(10 + 20 + 30 + 40);

    const echoed: number[] = [];
    async function* duplex() {
      for (const size of [5, 6, 7]) yield create(StreamingOutputCallRequestSchema, { responseParameters: [{ size }] });
    }
    for await (const r of client.fullDuplexCall(duplex())) echoed.push(r.payload!.body.length);
    expect(echoed).toEqual([5, 6, 7]);

    // One WebSocket through nginx carried all four.
    expect(setup.bridge.connections).toBe(1);
    expect(setup.ended.map((e) => e.connection.id).every((id) => id === setup.ended[0]!.connection.id)).toBe(true);
    expect(setup.ended.map((e) => e.code)).toEqual([0, 0, 0, 0]);
  });
});

/** A server stream whose second message comes `gapS` seconds after the first. */
async function idleStream(
  client: ReturnType<typeof clientTo>,
  gapS: number,
): Promise<{ messages: number; error?: ConnectError }> {
  let messages = 0;
  try {
    for await (const _ of client.streamingOutputCall({
      responseParameters: [{ size: 1 }, { size: 1, intervalUs: gapS * 1_000_000 }],
    }))
      messages++;
    return { messages };
  } catch (error) {
    return { messages, error: ConnectError.from(error) };
  }
}

describe(`a server stream idle longer than nginx's proxy_read_timeout (${IDLE_TIMEOUT_S} s)`, () => {
  const GAP_S = IDLE_TIMEOUT_S + 2;

  test("survives with the bridge's keepalive below the timeout", async () => {
    const { bridge, nginx } = await behindNginx({ keepalive: { intervalMs: 1_000, timeoutMs: 1_000 } });
    try {
      expect(await idleStream(clientTo(nginx.url), GAP_S)).toEqual({ messages: 2 });
    } finally {
      await nginx.stop();
      await bridge.close({ drainTimeoutMs: 100 });
    }
  });

  test("survives with only the client's keepalive below the timeout (a bridge left at its 30 s default)", async () => {
    const { bridge, nginx } = await behindNginx();
    try {
      expect(await idleStream(clientTo(nginx.url, { intervalMs: 1_000, timeoutMs: 1_000 }), GAP_S)).toEqual({
        messages: 2,
      });
    } finally {
      await nginx.stop();
      await bridge.close({ drainTimeoutMs: 100 });
    }
  });

  test("is cut by nginx when neither side sends keepalives (the failure the keepalive prevents)", async () => {
    const { bridge, nginx } = await behindNginx({ keepalive: false });
    try {
      const outcome = await idleStream(clientTo(nginx.url), GAP_S);
      expect(outcome.messages).toBe(1);
      expect(outcome.error?.code).toBe(Code.Unavailable);
    } finally {
      await nginx.stop();
      await bridge.close({ drainTimeoutMs: 100 });
    }
  });
});

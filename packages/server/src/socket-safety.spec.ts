// What a misbehaving peer can make the bridge hold: sockets that never speak, peers that never read.
import { CloseCode, ErrorCode, FrameType, FrameWriter, Status } from "@grpc-ws/wire";
import { describe, expect, test } from "vitest";
import type { WebSocket } from "ws";
import { TestService } from "../../../gen/grpc/testing/test_pb.js";
import { useBridge } from "./bridge-fixture.test-util.js";
import { until } from "./test-client.test-util.js";

const TS = "/grpc.testing.TestService";
const SETTINGS_TIMEOUT = 200;
const SOCKET_HIGH_WATER = 64 * 1024;

/** The server side of the bridge's only connection. */
function serverSocket(): WebSocket {
  const open = (fx.bridge as unknown as { open: Set<{ ws: WebSocket }> }).open;
  const [connection] = open;
  if (!connection) throw new Error("no connection");
  return connection.ws;
}

const fx = useBridge({
  routes: (router) => router.rpc(TestService.method.emptyCall, () => ({})),
  keepalive: false,
  settingsTimeoutMs: SETTINGS_TIMEOUT,
  socketHighWaterMark: SOCKET_HIGH_WATER,
  // The test floods PINGs to fill the socket with acks; the PING budget (a flood ends the
  // connection, hostile.spec.ts) is lifted so that backpressure is what it observes.
  budgets: { pings: { burst: 10_000_000, perSecond: 10_000_000 } },
});

describe("settings timeout", () => {
  test("a socket that upgrades and never sends SETTINGS is closed with GOAWAY SETTINGS_TIMEOUT and 1002", async () => {
    const peer = await fx.connectRaw();
    const closed = await Promise.race([peer.closed, new Promise<undefined>((r) => setTimeout(r, 5000))]);
    expect(closed?.code).toBe(CloseCode.PROTOCOL_ERROR);
    const goAway = peer.frames.find((f) => f.type === FrameType.GOAWAY);
    expect(goAway).toBeDefined();
    expect(new DataView(goAway!.payload.buffer).getUint32(4)).toBe(ErrorCode.SETTINGS_TIMEOUT);
    await until(() => fx.bridge.connections === 0, "the bridge to drop the connection");
  });

  test("a client that sent SETTINGS stays connected past the timeout", async () => {
    const client = await fx.connect();
    await new Promise((r) => setTimeout(r, 2 * SETTINGS_TIMEOUT));
    expect(client.closeEvent).toBeUndefined();
    expect((await client.call(`${TS}/EmptyCall`, [new Uint8Array(0)]).done).status?.code).toBe(Status.OK);
  });
});

describe("a peer that does not read its socket", () => {
  test("stops being read once the socket holds more than socketHighWaterMark, and is read again when it drains", async () => {
    const client = await fx.connect();
    // The client's SETTINGS must have reached the bridge (within its 200 ms settings timeout)
    // before building the frames below blocks this process's event loop for a while under load.
    expect((await client.call(`${TS}/EmptyCall`, [new Uint8Array(0)]).done).status?.code).toBe(Status.OK);
    // Every PING asks for an ack of the same size: 340 KB per message, 34 MB in all, far past the kernel's buffers.
    const PINGS_PER_MESSAGE = 20_000;
    const MESSAGES = 100;
    let pings = new Uint8Array(0);
    const writer = new FrameWriter((m) => (pings = m.slice()), {
      schedule: () => undefined,
      slabSize: 17 * PINGS_PER_MESSAGE,
    });
    for (let i = 0; i < PINGS_PER_MESSAGE; i++) writer.ping(new Uint8Array(8), false);
    writer.flush();
    expect(pings.length).toBe(17 * PINGS_PER_MESSAGE);
    const perMessageAcks = pings.length;

    client.ws.pause();
    for (let i = 0; i < MESSAGES; i++) client.sendRaw(pings);
    const server = serverSocket();
    // The mark, plus the acks of what was read before the acks were flushed (frames written in
    // one tick are sent together, so the bridge sees the socket full only after a read batch:
    // libuv reads at most 32 x 64 KiB per poll), plus messages ws had already parsed.
    const bound = SOCKET_HIGH_WATER + 32 * 64 * 1024 + 3 * perMessageAcks;
    await until(
      () => server.isPaused || server.bufferedAmount > bound,
      "the bridge to stop reading or to buffer past the bound",
      10_000,
    );
    expect(server.bufferedAmount).toBeLessThanOrEqual(bound);
    expect(server.isPaused).toBe(true);
    // The client's own writes back up instead.
    expect(client.ws.bufferedAmount).toBeGreaterThan(0);

    client.ws.resume();
    await until(() => client.ws.bufferedAmount === 0 && !server.isPaused, "the bridge to read everything", 20_000);
    expect((await client.call(`${TS}/EmptyCall`, [new Uint8Array(0)]).done).status?.code).toBe(Status.OK);
  });
});

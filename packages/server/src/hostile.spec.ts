// A hostile peer against a live bridge with default limits: each attack of issue 10's table, the
// bound it meets, a well-behaved client on another connection that keeps succeeding meanwhile,
// and memory and file descriptors back near their baseline once the attacker is gone. Rows on
// connection counts, idleness, handshakes, slow readers and wrong paths are in
// limits/connection-limits.spec.ts.
import { ErrorCode, FrameType, type Session, type Settings } from "@grpc-ws/wire";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { TestService } from "../../../gen/grpc/testing/test_pb.js";
import { concat, frame, headersFrame, keepCalling, messagePayload, openFds, settledMemory, u32 } from "./hostile.test-util.js";
import { createWebSocketBridge, type WebSocketBridge } from "./index.js";
import { RawPeer, TestClient, until } from "./test-client.test-util.js";

const TS = "/grpc.testing.TestService";
const STALL = `${TS}/FullDuplexCall`;
const MiB = 1024 * 1024;

let bridge: WebSocketBridge;
let url: string;
beforeAll(async () => {
  bridge = createWebSocketBridge({
    routes: (r) => {
      r.rpc(TestService.method.emptyCall, () => ({}));
      // Never reads its requests: whatever arrives stays queued on the stream.
      r.rpc(TestService.method.fullDuplexCall, async function* (_requests, ctx) {
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
      });
    },
  });
  ({ url } = await bridge.listen());
});
afterAll(() => bridge.close({ drainTimeoutMs: 100 }));
const sessions = (): Session[] => (bridge as unknown as { sessions: Session[] }).sessions;

interface Attack {
  peer: RawPeer;
  /** Resolves to the close code once the bridge closed the attacker's socket. */
  closeCode(): Promise<number>;
  /** The error code of the GOAWAY the bridge sent, if any. */
  goAwayCode(): number | undefined;
  /** WINDOW_UPDATE(0) frames received so far. */
  connectionUpdates(): number;
}

async function attacker(settings?: Partial<Settings>): Promise<Attack> {
  const peer = await RawPeer.connect(url);
  peer.settings(settings);
  await until(() => peer.frames.some((f) => f.type === FrameType.SETTINGS), "the bridge's SETTINGS");
  return {
    peer,
    closeCode: async () => (await peer.closed).code,
    goAwayCode() {
      const g = peer.frames.find((f) => f.type === FrameType.GOAWAY);
      return g ? new DataView(g.payload.buffer, g.payload.byteOffset).getUint32(4) : undefined;
    },
    connectionUpdates: () => peer.frames.filter((f) => f.type === FrameType.WINDOW_UPDATE && f.streamId === 0).length,
  };
}

/**
 * Runs `attack` while a well-behaved client calls on its own connection; then closes the
 * attacker and checks that the good client never failed and that fds and memory came back.
 */
async function underAttack(attack: (a: Attack) => Promise<void>, settings?: Partial<Settings>): Promise<Attack> {
  const fdsBefore = openFds();
  const memoryBefore = await settledMemory();
  const good = await TestClient.connect(url);
  const calling = keepCalling(good, `${TS}/EmptyCall`);
  const a = await attacker(settings);
  try {
    await attack(a);
  } finally {
    await a.peer.close();
    const { calls, failures } = await calling.stop();
    expect(failures).toEqual([]);
    expect(calls).toBeGreaterThan(0);
    await good.close();
    await until(() => bridge.connections === 0, "the bridge to drop both connections", 10_000);
  }
  const memoryAfter = await settledMemory();
  expect(memoryAfter.arrayBuffers - memoryBefore.arrayBuffers).toBeLessThan(8 * MiB);
  expect(memoryAfter.heap - memoryBefore.heap).toBeLessThan(32 * MiB);
  expect(openFds()).toBeLessThanOrEqual(fdsBefore + 2);
  return a;
}

describe("memory follows bytes received", () => {
  test("100 streams whose 5-byte prefix declares a 4 MiB message, then 10 bytes: the bridge reserves kilobytes, not 400 MiB", async () => {
    await underAttack(async ({ peer }) => {
      const before = (await settledMemory()).arrayBuffers;
      const parts: Uint8Array[] = [];
      for (let i = 0; i < 100; i++) {
        const id = 2 * i + 1;
        parts.push(headersFrame(id, STALL), frame(FrameType.DATA, 0, id, messagePayload(new Uint8Array(10), 4 * MiB)));
      }
      peer.ws.send(concat(parts));
      await until(() => sessions().some((s) => s.activeStreams === 100), "the 100 streams to open");
      const held = (await settledMemory()).arrayBuffers - before;
      // Before: the declared size was allocated at once, 100 x 4 MiB.
      expect(held).toBeLessThan(8 * MiB);
    });
  });

  test("100 calls each holding a 12-byte request that arrived inside a 3 MiB WebSocket message: the message is not pinned", async () => {
    await underAttack(async (a) => {
      const { peer } = a;
      const before = (await settledMemory()).arrayBuffers;
      // Padding: DATA for stream 1, which the attacker opened and reset (frames for a closed stream are ignored).
      peer.ws.send(concat([headersFrame(1, STALL), frame(FrameType.RST_STREAM, 0, 1, u32(ErrorCode.CANCEL))]));
      const pad = frame(FrameType.DATA, 0, 1, new Uint8Array(16 * 1024 - 9));
      const padding = concat(Array.from({ length: 192 }, () => pad)); // ~3 MiB
      for (let i = 1; i <= 100; i++) {
        const id = 2 * i + 1;
        const updates = a.connectionUpdates();
        peer.ws.send(concat([headersFrame(id, STALL), frame(FrameType.DATA, 0, id, messagePayload(new Uint8Array(12).fill(i))), padding]));
        // Connection credit for the padding comes back before the next 3 MiB go out.
        await until(() => a.connectionUpdates() > updates, "connection credit for the padding", 10_000);
      }
      await until(() => sessions().some((s) => s.activeStreams === 100), "the 100 streams to open");
      const held = (await settledMemory()).arrayBuffers - before;
      // Before: each 12-byte view kept its 3 MiB WebSocket message alive, 300 MiB in all.
      expect(held).toBeLessThan(16 * MiB);
    });
  });
});


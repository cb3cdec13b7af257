// A hostile peer against a live bridge with default limits: each attack of issue 10's table, the
// bound it meets, a well-behaved client on another connection that keeps succeeding meanwhile,
// and memory and file descriptors back near their baseline once the attacker is gone. Rows on
// connection counts, idleness, handshakes, slow readers and wrong paths are in
// limits/connection-limits.spec.ts.
import {
  CloseCode,
  DEFAULT_BUDGETS,
  ErrorCode,
  Flags,
  FrameType,
  RESET_BURST,
  RESET_RATE_PER_S,
  metadataSize,
  type Session,
  type Settings,
} from "@grpc-ws/wire";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { TestService } from "../../../gen/grpc/testing/test_pb.js";
import {
  concat,
  frame,
  headersFrame,
  keepCalling,
  messagePayload,
  metadataHeaders,
  openFds,
  settledMemory,
  u32,
} from "./hostile.test-util.js";
import { createWebSocketBridge, type WebSocketBridge } from "./index.js";
import { RawPeer, TestClient, until } from "./test-client.test-util.js";

const TS = "/grpc.testing.TestService";
const STALL = `${TS}/FullDuplexCall`;
const MiB = 1024 * 1024;

let bridge: WebSocketBridge;
/** Handlers of the stalled method started so far. */
let started = 0;
let url: string;
beforeAll(async () => {
  bridge = createWebSocketBridge({
    routes: (r) => {
      r.rpc(TestService.method.emptyCall, () => ({}));
      // Never reads its requests: whatever arrives stays queued on the stream.
      r.rpc(TestService.method.fullDuplexCall, async function* (_requests, ctx) {
        started++;
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
        peer.ws.send(
          concat([
            headersFrame(id, STALL),
            frame(FrameType.DATA, 0, id, messagePayload(new Uint8Array(12).fill(i))),
            padding,
          ]),
        );
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

/** Sends `batch()` as one WebSocket message after another until the bridge closes the socket (at most `maxBatches`). */
async function floodUntilClosed(a: Attack, batch: (i: number) => Uint8Array, maxBatches: number): Promise<number> {
  let closed = false;
  void a.peer.closed.then(() => (closed = true));
  let sent = 0;
  for (let i = 0; i < maxBatches && !closed; i++) {
    a.peer.ws.send(batch(i));
    sent++;
    // Let the bridge read and answer; a flood the bridge never stops fails the bound below.
    if (i % 10 === 9) await new Promise((r) => setTimeout(r, 1));
  }
  return sent;
}

/** The attacker was closed with GOAWAY ENHANCE_YOUR_CALM naming `budget`, and close code 1002 (a connection error). */
async function expectCalmed(a: Attack, budget: string): Promise<void> {
  const code = await Promise.race([a.closeCode(), new Promise<number>((r) => setTimeout(() => r(-1), 10_000))]);
  expect(a.goAwayCode()).toBe(ErrorCode.ENHANCE_YOUR_CALM);
  const goAway = a.peer.frames.find((f) => f.type === FrameType.GOAWAY)!;
  expect(new TextDecoder().decode(goAway.payload.subarray(8))).toContain(budget);
  expect(code).toBe(CloseCode.PROTOCOL_ERROR);
}

const many = (n: number, f: (i: number) => Uint8Array) => concat(Array.from({ length: n }, (_, i) => f(i)));
/** `n` empty gRPC messages back to back, as one DATA payload. */
const frameless = (n: number) => many(n, () => messagePayload(new Uint8Array(0)));

describe("floods end the connection with GOAWAY ENHANCE_YOUR_CALM", () => {
  let attackStart = 0;
  // Handlers a reset flood may start: the budget's burst, its refill over the attack, and one batch of 100 in flight.
  const resetBound = () => RESET_BURST + (RESET_RATE_PER_S * (performance.now() - attackStart)) / 1000 + 100;

  test("MadeYouReset by DATA after END_STREAM: the handlers started are bounded by the reset budget", async () => {
    const before = started;
    attackStart = performance.now();
    let nextId = 1;
    await underAttack(async (a) => {
      const sent = await floodUntilClosed(
        a,
        () =>
          many(100, () => {
            const id = nextId;
            nextId += 2;
            return concat([
              headersFrame(id, STALL, Flags.END_STREAM),
              frame(FrameType.DATA, 0, id, messagePayload(new Uint8Array(1))),
            ]);
          }),
        2_000,
      );
      await expectCalmed(a, "stream resets");
      expect(sent).toBeLessThan(2_000);
    });
    // Before: 127,000-164,000 handlers in 8 s. Now: the reset budget's burst, its rate over the attack, one batch.
    expect(started - before).toBeLessThanOrEqual(resetBound());
  });

  test("MadeYouReset by a stream WINDOW_UPDATE to 2^31-1: bounded the same way", async () => {
    const before = started;
    attackStart = performance.now();
    let nextId = 1;
    await underAttack(async (a) => {
      await floodUntilClosed(
        a,
        () =>
          many(100, () => {
            const id = nextId;
            nextId += 2;
            return concat([headersFrame(id, STALL), frame(FrameType.WINDOW_UPDATE, 0, id, u32(0x7fffffff))]);
          }),
        2_000,
      );
      await expectCalmed(a, "stream resets");
    });
    expect(started - before).toBeLessThanOrEqual(resetBound());
  });

  test("HEADERS past MAX_CONCURRENT_STREAMS: refused a bounded number of times", async () => {
    let nextId = 1;
    const a = await underAttack(async (a) => {
      await floodUntilClosed(
        a,
        () =>
          many(100, () => {
            const id = nextId;
            nextId += 2;
            return headersFrame(id, STALL);
          }),
        1_000,
      );
      await expectCalmed(a, "refused streams");
    });
    // Before: 3 million REFUSED_STREAM answers. Now: the 100 streams, then the refused-stream budget.
    const refused = a.peer.frames.filter((f) => f.type === FrameType.RST_STREAM).length;
    expect(refused).toBeLessThanOrEqual(DEFAULT_BUDGETS.refusedStreams.burst + 50);
  });

  test("PING flood", async () => {
    const a = await underAttack(async (a) => {
      await floodUntilClosed(a, () => many(1_000, () => frame(FrameType.PING, 0, 0, new Uint8Array(8))), 1_000);
      await expectCalmed(a, "PINGs");
    });
    expect(a.peer.frames.filter((f) => f.type === FrameType.PING).length).toBeLessThanOrEqual(
      DEFAULT_BUDGETS.pings.burst + 20,
    );
  });

  test("zero-length DATA flood", async () => {
    await underAttack(async (a) => {
      a.peer.ws.send(headersFrame(1, STALL));
      await floodUntilClosed(a, () => many(1_000, () => frame(FrameType.DATA, 0, 1)), 1_000);
      await expectCalmed(a, "empty DATA frames");
    });
  });

  test("empty WebSocket messages", async () => {
    await underAttack(async (a) => {
      await floodUntilClosed(a, () => new Uint8Array(0), 10_000);
      await expectCalmed(a, "empty WebSocket messages");
    });
  });

  test("WINDOW_UPDATE(0, +1) flood", async () => {
    await underAttack(async (a) => {
      await floodUntilClosed(a, () => many(1_000, () => frame(FrameType.WINDOW_UPDATE, 0, 0, u32(1))), 1_000);
      await expectCalmed(a, "WINDOW_UPDATE frames");
    });
  });

  test("metadata entries flood: HEADERS packed with tiny entries", async () => {
    // Blocks just under the 16 KiB limits, of one-letter entries with empty values.
    const entries: Array<[string, string]> = [[":path", STALL]];
    while (metadataSize(entries) < 16_000) entries.push(["a", ""]);
    let nextId = 1;
    await underAttack(async (a) => {
      await floodUntilClosed(
        a,
        () => {
          const id = nextId;
          nextId += 2;
          return concat([metadataHeaders(id, entries), frame(FrameType.RST_STREAM, 0, id, u32(ErrorCode.CANCEL))]);
        },
        2_000,
      );
      await expectCalmed(a, "metadata entries");
    });
  });

  test("empty gRPC messages queued against stalled bidi handlers on 100 streams: the queued-messages budget ends the connection", async () => {
    await underAttack(async (a) => {
      const heapBefore = (await settledMemory()).heap;
      // Empty messages are 5 bytes on the wire and a heap object each; round robin over 100 streams.
      const empties = frameless(1_000);
      a.peer.ws.send(many(100, (s) => headersFrame(2 * s + 1, STALL)));
      await floodUntilClosed(a, (i) => frame(FrameType.DATA, 0, 2 * (i % 100) + 1, empties), 5_000);
      await expectCalmed(a, "queued messages");
      // Before: 374-508 MB of heap per connection.
      expect((await settledMemory()).heap - heapBefore).toBeLessThan(48 * MiB);
    });
  });
});

describe("the connection window bounds buffered bytes", () => {
  test("17 streams x 256 KiB of complete messages in one WebSocket message pass the 4 MiB window no more: FLOW_CONTROL_ERROR", async () => {
    await underAttack(async (a) => {
      const chunk = messagePayload(new Uint8Array(16 * 1024 - 9 - 5));
      const parts: Uint8Array[] = [];
      for (let s = 0; s < 17; s++) {
        const id = 2 * s + 1;
        parts.push(headersFrame(id, STALL));
        for (let i = 0; i < 16; i++) parts.push(frame(FrameType.DATA, 0, id, chunk));
      }
      a.peer.ws.send(concat(parts));
      const code = await Promise.race([a.closeCode(), new Promise<number>((r) => setTimeout(() => r(-1), 10_000))]);
      expect(a.goAwayCode()).toBe(ErrorCode.FLOW_CONTROL_ERROR);
      expect(code).toBe(CloseCode.PROTOCOL_ERROR);
    });
  });

  test("a well-behaved client filling many stalled streams: the bridge buffers at most the connection window; one stalled stream does not block another call", async () => {
    const client = await TestClient.connect(url);
    try {
      const stalled = Array.from({ length: 30 }, () => client.call(STALL, [], { end: false }));
      for (const call of stalled) for (let i = 0; i < 16; i++) call.stream.write(new Uint8Array(64 * 1024 - 5));
      // The client sends until its connection window is spent: the bridge holds all of it (every
      // stream's queue is under a quarter of the window) and returns no connection credit.
      const session = sessions()[0]!;
      const total = () =>
        [...Array(61).keys()].map((i) => session.stream(2 * i + 1)?.queuedBytes ?? 0).reduce((x, y) => x + y, 0);
      await until(() => total() >= 4 * MiB - 64 * 1024, "the client to fill the connection window", 15_000);
      await new Promise((r) => setTimeout(r, 300));
      // 30 streams x 1 MiB offered; before, each stream's window (256 KiB) was buffered: 7.5 MiB.
      expect(total()).toBeLessThanOrEqual(4 * MiB);
    } finally {
      await client.close();
    }
    const other = await TestClient.connect(url);
    try {
      const one = other.call(STALL, [], { end: false });
      for (let i = 0; i < 8; i++) one.stream.write(new Uint8Array(64 * 1024 - 5));
      await new Promise((r) => setTimeout(r, 200));
      expect((await other.call(`${TS}/EmptyCall`, [new Uint8Array(0)]).done).status?.code).toBe(0);
    } finally {
      await other.close();
    }
  });
});

test("a frame for an even stream id, below the highest id opened, is a connection error PROTOCOL_ERROR (never a closed stream)", async () => {
  await underAttack(async (a) => {
    a.peer.ws.send(concat([headersFrame(5, STALL), frame(FrameType.DATA, 0, 2, messagePayload(new Uint8Array(1)))]));
    const code = await Promise.race([a.closeCode(), new Promise<number>((r) => setTimeout(() => r(-1), 10_000))]);
    expect(a.goAwayCode()).toBe(ErrorCode.PROTOCOL_ERROR);
    expect(code).toBe(CloseCode.PROTOCOL_ERROR);
  });
});

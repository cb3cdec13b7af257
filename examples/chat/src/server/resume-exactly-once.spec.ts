import { createClient, type Client } from "@connectrpc/connect";
import { createWebSocketTransport, type WebSocketTransport } from "@grpc-ws/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChatService } from "../../../../gen/chat/v1/chat_pb.js";
import { compareStreamIds } from "../shared/positions.js";
import { startChatServer, type ChatServer } from "./app.js";
import { RedisBackplane } from "./redis-backplane.js";
import { startRedis, type TestRedis } from "./redis-server.testing.js";

// The resume pattern under fire: 10,000 messages are published into a room while a follower
// drops its Follow call (or its whole WebSocket) at seeded random points and resumes, each time
// on instance A or B of two chat servers on one real Redis. It must see every message exactly
// once, in order.

const EVENTS = 10_000;
const SEED = 0x5eed;
const DEADLINE_MS = 60_000;
const MAX_ATTEMPTS = 2_000;
const ROOM = "firehose";

let redis: TestRedis;
let publisher: RedisBackplane;
const servers: ChatServer[] = [];

beforeAll(async () => {
  redis = await startRedis();
  for (let i = 0; i < 2; i++) {
    servers.push(
      await startChatServer({ port: 0, drainTimeoutMs: 100, backplane: await RedisBackplane.connect(redis.url) }),
    );
  }
  // The room keeps all of them (MAXLEN is applied by the publisher's XADD): a follower that falls
  // behind the kept history gets OUT_OF_RANGE instead, which resume.spec.ts checks.
  publisher = await RedisBackplane.connect(redis.url, { historySize: EVENTS });
});

afterAll(async () => {
  await publisher?.close();
  for (const s of servers) await s.close();
  await redis?.stop();
});

/** A small seeded PRNG (mulberry32): the same break points on every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("resumable Follow on Redis", () => {
  it(`delivers ${EVENTS} messages exactly once, in order, across random reconnects to two instances`, async () => {
    const rand = random(SEED);
    const connect = (i: number): { transport: WebSocketTransport; client: Client<typeof ChatService> } => {
      const transport = createWebSocketTransport({ url: `ws://127.0.0.1:${servers[i]!.port}/grpc` });
      return { transport, client: createClient(ChatService, transport) };
    };
    const links = [connect(0), connect(1)];
    const { token } = await links[0]!.client.join({ room: ROOM, name: "follower" });
    const author = (await publisher.join(ROOM, "publisher", "")).member;

    let expected = 0;
    let duplicates = 0;
    let losses = 0;
    let position = "";
    let attempts = 0;
    let socketCloses = 0;
    const perInstance = [0, 0];
    const started = Date.now();
    let publishing: Promise<unknown> | undefined;

    while (expected < EVENTS && attempts < MAX_ATTEMPTS && Date.now() - started < DEADLINE_MS) {
      const which = rand() < 0.5 ? 0 : 1;
      perInstance[which]!++;
      attempts++;
      const link = links[which]!;
      const call = new AbortController();
      // Drop after a random number of messages: the call alone, or every fourth time the WebSocket.
      const breakAfter = 1 + Math.floor(rand() * 400);
      const closeSocket = rand() < 0.25;
      let seen = 0;
      try {
        for await (const res of link.client.follow(
          { room: ROOM, token, history: 0, resumeAfter: position },
          { signal: call.signal },
        )) {
          if (res.event.case === "historyEnd") {
            // The first stream is live: start publishing (in order, in pipelined batches).
            publishing ??= (async () => {
              for (let i = 0; i < EVENTS; i += 100) {
                await Promise.all(
                  Array.from({ length: Math.min(100, EVENTS - i) }, (_, j) => publisher.post(author, String(i + j))),
                );
                if (rand() < 0.3) await sleep(1);
              }
            })().catch((err: unknown) => err);
            continue;
          }
          if (res.event.case !== "message") continue;
          const { id, text } = res.event.value;
          const n = Number(text);
          if (position !== "" && compareStreamIds(id, position) <= 0) duplicates++;
          else position = id;
          if (n === expected) expected++;
          else if (n < expected) duplicates++;
          else {
            losses += n - expected;
            expected = n + 1;
          }
          if (++seen >= breakAfter || expected >= EVENTS) break;
        }
      } catch (err) {
        // The socket close below fails the call of the other side's next attempt at worst; retried.
        if (!call.signal.aborted && !String(err).includes("closed")) throw err;
      }
      call.abort();
      if (closeSocket) {
        socketCloses++;
        await link.transport.close();
        links[which] = connect(which);
      }
      await sleep(Math.floor(rand() * 20));
    }
    expect(await publishing).toBeUndefined();
    for (const l of links) await l.transport.close();

    const figures = {
      events: EVENTS,
      received: expected,
      reconnects: attempts - 1,
      viaA: perInstance[0],
      viaB: perInstance[1],
      socketCloses,
      duplicates,
      losses,
      ms: Date.now() - started,
    };
    console.log(`resume figures: ${JSON.stringify(figures)}`);
    expect(figures).toMatchObject({ received: EVENTS, duplicates: 0, losses: 0 });
    expect(figures.reconnects).toBeGreaterThanOrEqual(10);
    expect(Math.min(figures.viaA!, figures.viaB!)).toBeGreaterThan(0);
  }, 90_000);
});

// Measures (does not assert) the chat's fan-out rate between two instances on one Redis:
// messages sent with SendMessage through instance A, received by Follow streams on instance B.
// Baseline in the same run: one in-memory instance, sending and following on the same server.
// Usage (repository root): npm run fanout-rate -w examples/chat [-- --messages 5000 --followers 10]
import { parseArgs } from "node:util";
import { createClient, type Client } from "@connectrpc/connect";
import { createWebSocketTransport, type WebSocketTransport } from "@grpc-ws/client";
import { ChatService } from "../../../gen/chat/v1/chat_pb.js";
import { startChatServer, type ChatServer } from "../src/server/app.js";
import { RedisBackplane } from "../src/server/redis-backplane.js";
import { startRedis } from "../src/server/redis-server.testing.js";

const { values } = parseArgs({
  options: { messages: { type: "string", default: "5000" }, followers: { type: "string", default: "10" } },
});
const MESSAGES = Math.min(100_000, Number(values.messages));
const FOLLOWERS = Math.min(100, Number(values.followers));
const IN_FLIGHT = 64;
const TIMEOUT_MS = 120_000;

const connect = (server: ChatServer): { transport: WebSocketTransport; client: Client<typeof ChatService> } => {
  const transport = createWebSocketTransport({ url: `ws://127.0.0.1:${server.port}/grpc` });
  return { transport, client: createClient(ChatService, transport) };
};

/** Sends MESSAGES through `sender`, FOLLOWERS follow on `receiver`; returns messages/s at the slowest follower. */
async function run(label: string, room: string, sender: ChatServer, receiver: ChatServer): Promise<number> {
  const out = connect(sender);
  const inbound = connect(receiver);
  const { token } = await out.client.join({ room, name: "sender" });
  const call = new AbortController();
  const followers = await Promise.all(
    Array.from({ length: FOLLOWERS }, async (_, i) => {
      const { token: t } = await inbound.client.join({ room, name: `f${i}` });
      const it = inbound.client.follow({ room, token: t, history: 0 }, { signal: call.signal })[Symbol.asyncIterator]();
      for (;;) if ((await it.next()).value?.event.case === "historyEnd") break;
      // Wrapped: an async function returning a promise would wait for it.
      return {
        done: (async () => {
          let got = 0;
          while (got < MESSAGES) {
            const next = await it.next();
            if (next.done) throw new Error("stream ended");
            if (next.value.event.case === "message") got++;
          }
          return performance.now();
        })(),
      };
    }),
  );
  const started = performance.now();
  let sent = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (sent < MESSAGES) {
        sent++;
        await out.client.sendMessage({ room, token, text: `m${sent}` });
      }
    }),
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  const finished = await Promise.race([
    Promise.all(followers.map((f) => f.done)),
    new Promise<never>(
      (_, reject) =>
        (timer = setTimeout(() => reject(new Error(`${label}: not all received in ${TIMEOUT_MS} ms`)), TIMEOUT_MS)),
    ),
  ]);
  clearTimeout(timer);
  call.abort();
  await out.transport.close();
  await inbound.transport.close();
  const seconds = (Math.max(...finished) - started) / 1000;
  const rate = MESSAGES / seconds;
  console.log(
    `${label}: ${MESSAGES} messages to ${FOLLOWERS} followers in ${seconds.toFixed(2)} s: ` +
      `${Math.round(rate)} messages/s, ${Math.round(rate * FOLLOWERS)} deliveries/s`,
  );
  return rate;
}

const redis = await startRedis();
try {
  const memory = await startChatServer({ port: 0, maxMembersPerRoom: FOLLOWERS + 10 });
  const baseline = await run("memory, one instance", "rate-memory", memory, memory);
  await memory.close();

  const options = { maxMembersPerRoom: FOLLOWERS + 10 };
  const a = await startChatServer({ port: 0, backplane: await RedisBackplane.connect(redis.url, options) });
  const b = await startChatServer({ port: 0, backplane: await RedisBackplane.connect(redis.url, options) });
  const redisRate = await run("redis, A -> B", "rate-redis", a, b);
  await a.close();
  await b.close();
  console.log(`ratio redis A->B / memory: ${(redisRate / baseline).toFixed(2)}`);
} finally {
  await redis.stop();
}

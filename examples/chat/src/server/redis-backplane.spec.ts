import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Code, createClient, type Client } from "@connectrpc/connect";
import { createWebSocketTransport, type WebSocketTransport } from "@grpc-ws/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChatService, type FollowResponse } from "../../../../gen/chat/v1/chat_pb.js";
import { startChatServer, type ChatServer } from "./app.js";
import { expectCode, waitFor } from "./calls.testing.js";
import { RedisBackplane } from "./redis-backplane.js";
import { freePort, startRedis, type TestRedis } from "./redis-server.testing.js";

// Two chat instances on one real redis-server: shared rooms, and what happens when Redis goes away.

let redis: TestRedis;
const servers: ChatServer[] = [];
const transports: WebSocketTransport[] = [];
const quiet: string[] = [];

async function instance(): Promise<Client<typeof ChatService>> {
  // Presence entries live 3 s here (renewed every second), so a crash shows within seconds.
  const backplane = await RedisBackplane.connect(redis.url, { presenceTtlMs: 3_000, log: (line) => quiet.push(line) });
  const server = await startChatServer({ port: 0, drainTimeoutMs: 100, backplane });
  servers.push(server);
  const transport = createWebSocketTransport({
    url: `ws://127.0.0.1:${server.port}/grpc`,
    reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
  });
  transports.push(transport);
  return createClient(ChatService, transport);
}

let a: Client<typeof ChatService>;
let b: Client<typeof ChatService>;

beforeAll(async () => {
  redis = await startRedis();
  a = await instance();
  b = await instance();
});

afterAll(async () => {
  for (const t of transports) await t.close();
  for (const s of servers) await s.close();
  await redis?.stop();
});

/** Polls `op` until it resolves (bounded), returning its value. */
async function eventually<T>(op: () => Promise<T>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (let i = 0; i < 200 && Date.now() < deadline; i++) {
    try {
      return await op();
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${what} did not succeed in ${timeoutMs} ms: ${String(last)}`);
}

describe("two instances on one Redis", () => {
  it("share names, messages, presence and files", async () => {
    const room = "shared";
    const ann = await a.join({ room, name: "Ann" });
    // The name is taken on the other instance too.
    await expectCode(b.join({ room, name: "ann" }), Code.AlreadyExists);
    const bob = await b.join({ room, name: "Bob" });

    const follow = new AbortController();
    const onB = b.follow({ room, token: bob.token, history: 10 }, { signal: follow.signal })[Symbol.asyncIterator]();
    await waitFor(onB, (e) => e.event.case === "historyEnd", "history end on B");
    const annFollow = new AbortController();
    const onA = a.follow({ room, token: ann.token, history: 10 }, { signal: annFollow.signal })[Symbol.asyncIterator]();
    await waitFor(onA, (e) => e.event.case === "historyEnd", "history end on A");
    await waitFor(
      onB,
      (e) => e.event.case === "presence" && e.event.value.online.join() === "Ann,Bob",
      "both online, seen on B",
    );

    const sent = await a.sendMessage({ room, token: ann.token, text: "from A" });
    const got = await waitFor(onB, (e: FollowResponse) => e.event.case === "message", "message on B");
    expect(got.event.value).toMatchObject({ id: sent.message!.id, author: "Ann", text: "from A" });

    // A file uploaded through A downloads from B.
    const bytes = new TextEncoder().encode("shared file");
    const up = await a.uploadAttachment(
      (async function* () {
        yield {
          part: {
            case: "header" as const,
            value: { room, token: ann.token, fileName: "f.txt", contentType: "text/plain", size: bytes.byteLength },
          },
        };
        yield { part: { case: "chunk" as const, value: bytes } };
      })(),
    );
    const res = await fetch(`http://127.0.0.1:${servers[1]!.port}${up.attachment!.url}`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("shared file");

    annFollow.abort();
    await waitFor(
      onB,
      (e) => e.event.case === "presence" && e.event.value.online.join() === "Bob",
      "Ann offline, seen on B",
    );
    expect((await b.listRooms({})).rooms.find((r) => r.name === room)?.online).toBe(1);
    follow.abort();
  });

  it("takes the members of a crashed instance offline for everyone", async () => {
    const room = "crash";
    const child = spawn(
      process.execPath,
      ["--import", "tsx", fileURLToPath(new URL("./crash-member.testing.ts", import.meta.url)), redis.url, room, "Zed"],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let output = "";
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the crashing instance did not come up:\n${output}`)), 20_000);
      child.stderr!.on("data", (c: Buffer) => (output += c.toString()));
      child.stdout!.on("data", (c: Buffer) => {
        output += c.toString();
        if (output.includes("online")) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    const call = new AbortController();
    const { token } = await b.join({ room, name: "Obs" });
    const stream = b.follow({ room, token, history: 0 }, { signal: call.signal })[Symbol.asyncIterator]();
    await waitFor(
      stream,
      (e) => e.event.case === "presence" && e.event.value.online.join() === "Obs,Zed",
      "Zed online",
    );
    const exited = new Promise((resolve) => child.once("exit", resolve));
    process.kill(child.pid!, "SIGKILL");
    await exited;
    // Nobody announces it: the entry expires (1 s) and B's heartbeat (1 s) publishes the change.
    await waitFor(
      stream,
      (e) => e.event.case === "presence" && e.event.value.online.join() === "Obs",
      "Zed offline",
      10_000,
    );
    call.abort();
  });

  it("fails calls with UNAVAILABLE while Redis is down, and recovers by itself when it is back", async () => {
    const room = "outage";
    const { token } = await a.join({ room, name: "Cid" });
    const follow = new AbortController();
    const stream = b
      .follow({ room, token: (await b.join({ room, name: "Dee" })).token, history: 0 }, { signal: follow.signal })
      [Symbol.asyncIterator]();
    await waitFor(stream, (e) => e.event.case === "historyEnd", "history end");

    await redis.stop();
    const down = await expectCode(a.sendMessage({ room, token, text: "lost?" }), Code.Unavailable);
    expect(down.rawMessage).toMatch(/storage \(Redis\) is unavailable/);
    // The open stream ends too: it could not know what it missed.
    const ended = await expectCode(
      waitFor(stream, () => false, "the stream to fail"),
      Code.Unavailable,
    );
    expect(ended.rawMessage).toContain("Redis");
    await expectCode(b.listRooms({}), Code.Unavailable);

    await redis.start();
    // An empty Redis: members join again (what the page does on UNAUTHENTICATED), then all works.
    const again = await eventually(() => a.join({ room, name: "Cid" }), "join after the restart");
    const sent = await eventually(
      () => a.sendMessage({ room, token: again.token, text: "back" }),
      "send after the restart",
    );
    expect(sent.message?.text).toBe("back");
    const dee = await eventually(() => b.join({ room, name: "Dee" }), "join on B after the restart");
    // B's subscription may still be coming back (UNAVAILABLE until its probe returns): retry like the page.
    const replayed = await eventually(() => {
      const live = b.follow({ room, token: dee.token, history: 5 }, { signal: follow.signal })[Symbol.asyncIterator]();
      return waitFor(live, (e) => e.event.case === "message", "history on B after the restart");
    }, "follow on B after the restart");
    expect(replayed.event.value).toMatchObject({ text: "back" });
    follow.abort();
    expect(
      quiet.some((l) => l.includes("connection lost")),
      quiet.join("\n"),
    ).toBe(true);
  });

  it("refuses to start against an unreachable Redis, with a clear error", async () => {
    const port = await freePort();
    await expect(RedisBackplane.connect(`redis://127.0.0.1:${port}`)).rejects.toThrow(
      `cannot reach Redis at redis://127.0.0.1:${port}`,
    );
  });
});

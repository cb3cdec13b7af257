import { Code, createClient, type Client } from "@connectrpc/connect";
import { createWebSocketTransport, type WebSocketTransport } from "@grpc-ws/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChatService, type FollowResponse } from "../../../../gen/chat/v1/chat_pb.js";
import { LIMITS } from "../shared/limits.js";
import { startChatServer, type ChatServer } from "./app.js";
import { expectCode, waitFor } from "./calls.testing.js";
import { RedisBackplane } from "./redis-backplane.js";
import { startRedis, type TestRedis } from "./redis-server.testing.js";

// Follow's resume position, through the real bridge and client, on both backplanes.

let redis: TestRedis | undefined;
afterAll(async () => {
  await redis?.stop();
});

describe.each(["memory", "redis"] as const)("resuming Follow on the %s backplane", (kind) => {
  let server: ChatServer;
  let transport: WebSocketTransport;
  let client: Client<typeof ChatService>;
  let seq = 0;
  const room = () => `resume-${++seq}`;

  beforeAll(async () => {
    let backplane: RedisBackplane | undefined;
    if (kind === "redis") {
      redis ??= await startRedis();
      backplane = await RedisBackplane.connect(redis.url, { keyPrefix: `resume${process.pid}:` });
    }
    server = await startChatServer({ port: 0, drainTimeoutMs: 100, backplane });
    transport = createWebSocketTransport({ url: `ws://127.0.0.1:${server.port}/grpc` });
    client = createClient(ChatService, transport);
  });

  afterAll(async () => {
    await transport?.close();
    await server?.close();
  });

  /** Messages of one Follow call up to its history end. */
  async function replay(r: string, token: string, resumeAfter: string): Promise<string[]> {
    const call = new AbortController();
    const texts: string[] = [];
    const it = client
      .follow({ room: r, token, history: 50, resumeAfter }, { signal: call.signal })
      [Symbol.asyncIterator]();
    await waitFor(
      it,
      (e: FollowResponse) => {
        if (e.event.case === "message") texts.push(e.event.value.text);
        return e.event.case === "historyEnd";
      },
      "history end",
    );
    call.abort();
    return texts;
  }

  it("continues right after the given message id, with nothing repeated", async () => {
    const r = room();
    const { token } = await client.join({ room: r, name: "ann" });
    const ids: string[] = [];
    for (let i = 1; i <= 5; i++) ids.push((await client.sendMessage({ room: r, token, text: `m${i}` })).message!.id);
    expect(
      ids.every((id) => /^\d+-\d+$/.test(id)),
      ids.join(),
    ).toBe(true);
    expect(await replay(r, token, ids[1]!)).toEqual(["m3", "m4", "m5"]);
    expect(await replay(r, token, ids[4]!)).toEqual([]);
    expect(await replay(r, token, "")).toEqual(["m1", "m2", "m3", "m4", "m5"]);
  });

  it("answers OUT_OF_RANGE for a position no longer kept, INVALID_ARGUMENT for one that is not an id", async () => {
    const r = room();
    const { token } = await client.join({ room: r, name: "ben" });
    const first = (await client.sendMessage({ room: r, token, text: "first" })).message!.id;
    // Past the kept history (Redis trims with MAXLEN ~, whole nodes of 100 entries at a time).
    const more = kind === "redis" ? LIMITS.historySize + 150 : LIMITS.historySize;
    await Promise.all(Array.from({ length: more }, (_, i) => client.sendMessage({ room: r, token, text: `n${i}` })));
    const tooOld = await expectCode(replay(r, token, first), Code.OutOfRange);
    expect(tooOld.rawMessage).toContain("older than the kept history");
    // A position that was never handed out (e.g. from before a restart) reads the same.
    await expectCode(replay(r, token, "1-0"), Code.OutOfRange);
    await expectCode(replay(r, token, "latest"), Code.InvalidArgument);
  });
});

import { Code, createClient, type Client } from "@connectrpc/connect";
import { createWebSocketTransport, type WebSocketTransport } from "@grpc-ws/client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ChatService, type FollowResponse, type SessionResponse } from "../../../../gen/chat/v1/chat_pb.js";
import { LIMITS } from "../shared/limits.js";
import { startChatServer, type ChatServer } from "./app.js";
import { expectCode, waitFor } from "./calls.testing.js";
import { RedisBackplane } from "./redis-backplane.js";
import { startRedis, type TestRedis } from "./redis-server.testing.js";

// The chat service through the real bridge and the real client, over WebSocket on 127.0.0.1,
// once on the in-memory backplane and once on a real redis-server.

let server: ChatServer;
let transport: WebSocketTransport;
let client: Client<typeof ChatService>;
const calls: AbortController[] = [];
let redis: TestRedis | undefined;

afterEach(() => {
  for (const c of calls.splice(0)) c.abort();
});

afterAll(async () => {
  await redis?.stop();
});

/** The server's address (its printed URL says "localhost", which may resolve to ::1). */
const base = () => `http://127.0.0.1:${server.port}/`;

/** A signal for a streaming call; aborted after each test. */
function callSignal(): AbortSignal {
  const c = new AbortController();
  calls.push(c);
  return c.signal;
}

let seq = 0;
/** A fresh room per test, so tests do not see each other's members. */
const freshRoom = () => `room-${++seq}-${process.pid}`;

async function join(room: string, name: string): Promise<string> {
  return (await client.join({ room, name })).token;
}

async function upload(room: string, token: string, bytes: Uint8Array, declaredSize = bytes.byteLength) {
  async function* parts() {
    yield {
      part: {
        case: "header" as const,
        value: { room, token, fileName: "notes.txt", contentType: "text/plain", size: declaredSize },
      },
    };
    for (let o = 0; o < bytes.byteLength; o += LIMITS.uploadChunkBytes) {
      yield { part: { case: "chunk" as const, value: bytes.subarray(o, o + LIMITS.uploadChunkBytes) } };
    }
  }
  return client.uploadAttachment(parts(), { timeoutMs: 10_000 });
}

describe.each(["memory", "redis"] as const)("on the %s backplane", (kind) => {
  beforeAll(async () => {
    let backplane: RedisBackplane | undefined;
    if (kind === "redis") {
      redis ??= await startRedis();
      backplane = await RedisBackplane.connect(redis.url, { keyPrefix: `spec${process.pid}:` });
    }
    server = await startChatServer({ port: 0, drainTimeoutMs: 100, backplane });
    transport = createWebSocketTransport({ url: `ws://127.0.0.1:${server.port}/grpc` });
    client = createClient(ChatService, transport);
  });

  afterAll(async () => {
    await transport?.close();
    await server?.close();
  });

  describe("Join", () => {
    it("gives out a name once per room; ALREADY_EXISTS for a taken name, also in other letter case", async () => {
      const room = freshRoom();
      const token = await join(room, "Alice");
      expect(token).not.toBe("");
      const err = await expectCode(client.join({ room, name: "alice" }), Code.AlreadyExists);
      expect(err.rawMessage).toContain("already taken");
      // The same name in another room is a different member.
      await expect(join(freshRoom(), "Alice")).resolves.not.toBe("");
    });

    it("resumes a membership with its token (what a reconnecting client does)", async () => {
      const room = freshRoom();
      const token = await join(room, "bob");
      const res = await client.join({ room, name: "bob", resumeToken: token });
      expect(res).toMatchObject({ token, resumed: true });
      await expectCode(client.join({ room, name: "bob", resumeToken: "forged" }), Code.AlreadyExists);
    });

    it("rejects empty and malformed names with INVALID_ARGUMENT", async () => {
      await expectCode(client.join({ room: freshRoom(), name: "   " }), Code.InvalidArgument);
      await expectCode(client.join({ room: freshRoom(), name: "<script>" }), Code.InvalidArgument);
      await expectCode(
        client.join({ room: freshRoom(), name: "x".repeat(LIMITS.maxNameLength + 1) }),
        Code.InvalidArgument,
      );
      await expectCode(client.join({ room: "", name: "carol" }), Code.InvalidArgument);
    });
  });

  describe("SendMessage", () => {
    it("rejects empty, blank and over-long messages with INVALID_ARGUMENT, accepts the limit exactly", async () => {
      const room = freshRoom();
      const token = await join(room, "dave");
      await expectCode(client.sendMessage({ room, token, text: "" }), Code.InvalidArgument);
      await expectCode(client.sendMessage({ room, token, text: " \n\t " }), Code.InvalidArgument);
      const long = await expectCode(
        client.sendMessage({ room, token, text: "x".repeat(LIMITS.maxTextLength + 1) }),
        Code.InvalidArgument,
      );
      expect(long.rawMessage).toContain(String(LIMITS.maxTextLength));
      const ok = await client.sendMessage({ room, token, text: "y".repeat(LIMITS.maxTextLength) });
      expect(ok.message?.text).toHaveLength(LIMITS.maxTextLength);
      expect(ok.message?.author).toBe("dave");
    });

    it("refuses a huge message at the bridge (RESOURCE_EXHAUSTED) and keeps serving", async () => {
      const room = freshRoom();
      const token = await join(room, "erin");
      await expectCode(client.sendMessage({ room, token, text: "z".repeat(200_000) }), Code.ResourceExhausted);
      const ok = await client.sendMessage({ room, token, text: "still here" });
      expect(ok.message?.text).toBe("still here");
    });

    it("requires a membership: UNAUTHENTICATED for an unknown token", async () => {
      await expectCode(client.sendMessage({ room: "general", token: "nope", text: "hi" }), Code.Unauthenticated);
    });
  });

  describe("Follow and Session", () => {
    it("replays history, then delivers live messages and presence", async () => {
      const room = freshRoom();
      const alice = await join(room, "alice");
      await client.sendMessage({ room, token: alice, text: "before" });
      const it = client.follow({ room, token: alice, history: 10 }, { signal: callSignal() })[Symbol.asyncIterator]();
      const first = await waitFor(it, () => true, "history");
      expect(first.event.case === "message" && first.event.value.text).toBe("before");
      await waitFor(it, (e) => e.event.case === "historyEnd", "history end");
      await waitFor(it, (e) => e.event.case === "presence" && e.event.value.online.includes("alice"), "own presence");

      const bob = await join(room, "bob");
      const bobFollow = client
        .follow({ room, token: bob, history: 0 }, { signal: callSignal() })
        [Symbol.asyncIterator]();
      await waitFor(bobFollow, (e) => e.event.case === "historyEnd", "bob's history end");
      const presence = await waitFor(
        it,
        (e) => e.event.case === "presence" && e.event.value.online.length === 2,
        "bob online",
      );
      expect(presence.event.value).toMatchObject({ online: ["alice", "bob"] });

      await client.sendMessage({ room, token: bob, text: "live from bob" });
      const live = await waitFor(it, (e: FollowResponse) => e.event.case === "message", "live message");
      expect(live.event.case === "message" && live.event.value).toMatchObject({
        author: "bob",
        text: "live from bob",
        room,
      });
    });

    it("takes a member offline when their Follow call is cancelled", async () => {
      const room = freshRoom();
      const alice = await join(room, "alice");
      const bob = await join(room, "bob");
      const it = client.follow({ room, token: alice, history: 0 }, { signal: callSignal() })[Symbol.asyncIterator]();
      await waitFor(it, (e) => e.event.case === "historyEnd", "history end");
      const bobCall = new AbortController();
      const bobIt = client.follow({ room, token: bob, history: 0 }, { signal: bobCall.signal })[Symbol.asyncIterator]();
      await waitFor(bobIt, (e) => e.event.case === "historyEnd", "bob's history end");
      await waitFor(it, (e) => e.event.case === "presence" && e.event.value.online.includes("bob"), "bob online");
      bobCall.abort();
      const after = await waitFor(
        it,
        (e) => e.event.case === "presence" && !e.event.value.online.includes("bob"),
        "bob offline",
      );
      expect(after.event.value).toMatchObject({ online: ["alice"] });
      expect((await client.listRooms({})).rooms.find((r) => r.name === room)?.online).toBe(1);
    });

    it("carries typing state and read receipts between sessions", async () => {
      const room = freshRoom();
      const alice = await join(room, "alice");
      const bob = await join(room, "bob");
      const bobOut = pushable<{
        event:
          | { case: "hello"; value: { room: string; token: string } }
          | { case: "typing"; value: { typing: boolean } }
          | { case: "read"; value: { messageId: string } };
      }>();
      const aliceOut = pushable<{ event: { case: "hello"; value: { room: string; token: string } } }>();
      aliceOut.push({ event: { case: "hello", value: { room, token: alice } } });
      const aliceIn = client.session(aliceOut.iterable, { signal: callSignal() })[Symbol.asyncIterator]();
      bobOut.push({ event: { case: "hello", value: { room, token: bob } } });
      void client
        .session(bobOut.iterable, { signal: callSignal() })
        [Symbol.asyncIterator]()
        .next()
        .catch(() => {});

      // Bob's hello may still be in flight: send typing until Alice sees it (bounded).
      bobOut.push({ event: { case: "typing", value: { typing: true } } });
      const typing = await waitFor(
        aliceIn,
        (e: SessionResponse) => e.event.case === "typing" && e.event.value.names.includes("bob"),
        "bob typing",
      );
      expect(typing.event.value).toMatchObject({ names: ["bob"] });
      bobOut.push({ event: { case: "typing", value: { typing: false } } });
      await waitFor(
        aliceIn,
        (e) => e.event.case === "typing" && e.event.value.names.length === 0,
        "bob stopped typing",
      );

      const sent = await client.sendMessage({ room, token: alice, text: "read me" });
      bobOut.push({ event: { case: "read", value: { messageId: sent.message!.id } } });
      const receipt = await waitFor(aliceIn, (e) => e.event.case === "read", "read receipt");
      expect(receipt.event.value).toMatchObject({ reader: "bob", messageId: sent.message!.id });
    });

    it("fails a session whose first message is not hello with INVALID_ARGUMENT", async () => {
      const out = pushable<{ event: { case: "typing"; value: { typing: boolean } } }>();
      out.push({ event: { case: "typing", value: { typing: true } } });
      const it = client.session(out.iterable, { signal: callSignal() })[Symbol.asyncIterator]();
      await expectCode(it.next(), Code.InvalidArgument);
    });
  });

  describe("UploadAttachment", () => {
    it("stores a chunked upload, serves it over HTTP and posts it to the room", async () => {
      const room = freshRoom();
      const token = await join(room, "frank");
      const follow = client.follow({ room, token, history: 0 }, { signal: callSignal() })[Symbol.asyncIterator]();
      await waitFor(follow, (e) => e.event.case === "historyEnd", "history end");

      const bytes = new Uint8Array(100_000).map((_, i) => (i * 7) & 0xff);
      const res = await upload(room, token, bytes);
      expect(res.attachment).toMatchObject({
        fileName: "notes.txt",
        contentType: "text/plain",
        size: bytes.byteLength,
      });
      const http = await fetch(new URL(res.attachment!.url, base()));
      expect(http.status).toBe(200);
      expect(new Uint8Array(await http.arrayBuffer())).toEqual(bytes);

      const posted = await waitFor(follow, (e) => e.event.case === "message", "attachment message");
      expect(posted.event.case === "message" && posted.event.value.attachment?.id).toBe(res.attachment!.id);
    });

    it("rejects a file over the limit with RESOURCE_EXHAUSTED, by declared and by actual size", async () => {
      const room = freshRoom();
      const token = await join(room, "grace");
      const big = new Uint8Array(LIMITS.maxAttachmentBytes + 1);
      const declared = await expectCode(upload(room, token, big), Code.ResourceExhausted);
      expect(declared.rawMessage).toContain("too large");
      // One byte over must not read "1.0 MiB; the limit is 1.0 MiB".
      expect(declared.rawMessage).toContain(`${LIMITS.maxAttachmentBytes + 1} bytes, 1 over`);
      // A client that under-declares is stopped once the bytes pass the limit.
      await expectCode(upload(room, token, big, 10), Code.ResourceExhausted);
      // A size mismatch and a missing header are INVALID_ARGUMENT.
      await expectCode(upload(room, token, new Uint8Array(10), 20), Code.InvalidArgument);
      await expectCode(
        client.uploadAttachment(
          (async function* () {
            yield { part: { case: "chunk" as const, value: new Uint8Array(3) } };
          })(),
        ),
        Code.InvalidArgument,
      );
      // The server is fine afterwards.
      expect((await client.listRooms({})).rooms.map((r) => r.name)).toContain(room);
    });
  });

  describe("HTTP", () => {
    it("serves the page and nothing outside the public files", async () => {
      const page = await fetch(base());
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('data-testid="join-form"');
      expect((await fetch(new URL("/../package.json", base()))).status).toBe(404);
      expect((await fetch(new URL("/attachments/00000000-0000-0000-0000-000000000000/x", base()))).status).toBe(404);
    });
  });
});

/** An async iterable fed by push(), for the request side of streaming calls. */
function pushable<T>(): { push(v: T): void; iterable: AsyncIterable<T> } {
  const items: T[] = [];
  let wake: (() => void) | undefined;
  return {
    push(v) {
      items.push(v);
      wake?.();
    },
    iterable: {
      async *[Symbol.asyncIterator]() {
        for (;;) {
          const v = items.shift();
          if (v !== undefined) yield v;
          else await new Promise<void>((r) => (wake = r));
        }
      },
    },
  };
}

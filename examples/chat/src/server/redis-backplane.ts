import { randomBytes, randomUUID } from "node:crypto";
import { create, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  ChatMessageSchema,
  RoomEventSchema,
  type AttachmentSchema,
  type ChatMessage,
  type RoomEvent,
} from "../../../../gen/chat/v1/chat_pb.js";
import { DEFAULT_ROOMS, LIMITS } from "../shared/limits.js";
import type { BackplaneOptions, ChatBackplane, Member, RoomSummary } from "./backplane.js";
import { messagePosition } from "./memory-backplane.js";
import { RedisAttachmentStore, type RedisAttachmentOptions } from "./redis-attachments.js";
import { connectRedis, guarded, type RedisClient } from "./redis-connection.js";
import { decodeLive, messageEventFrom, RedisFanout } from "./redis-fanout.js";
import { JOIN, NAMES, POST } from "./redis-scripts.js";
import { compareStreamIds } from "../shared/positions.js";
import type { ResumableSource } from "./resumable-stream.js";
import { checkName } from "./validate.js";

export interface RedisBackplaneOptions extends BackplaneOptions {
  /** Prefix of every key and channel. Default "chat:". */
  keyPrefix?: string;
  /**
   * How long this instance's presence entries live unless renewed (every third of it): the members
   * of a crashed instance go offline after at most this. Default 15 s.
   */
  presenceTtlMs?: number;
  /** Messages kept per room stream (`XADD ... MAXLEN ~`, so up to ~100 more). Default 200. */
  historySize?: number;
  attachments?: RedisAttachmentOptions;
  /** Where connection news goes (lost, back). Default console.error. */
  log?: (line: string) => void;
}

interface LocalMember {
  readonly member: Member;
  follows: number;
}

/**
 * The chat's shared state in Redis, so several instances serve the same rooms:
 * messages in a stream per room (the stream id is the message id and the resume position),
 * live events on a channel per room, names and tokens in keys with TTLs, presence and typing
 * in sorted sets scored by expiry. Keys (prefix "chat:"): see the README.
 */
export class RedisBackplane implements ChatBackplane {
  readonly attachments: RedisAttachmentStore;
  /** This process's id in presence entries. */
  readonly instance = randomBytes(6).toString("hex");
  private readonly local = new Map<string, LocalMember>();
  private readonly typingTimers = new Map<string, ReturnType<typeof setTimeout>>();
  /** Newest presence / typing payload seen per room, to notice changes no event announced (expiry). */
  private readonly lastNames = new Map<string, string>();
  private readonly heartbeat: ReturnType<typeof setInterval>;
  private readonly memberGraceMs: number;
  private readonly typingTtlMs: number;
  private readonly maxRooms: number;
  private readonly maxMembersPerRoom: number;
  private readonly presenceTtlMs: number;
  private readonly historySize: number;
  private fanout!: RedisFanout;

  private constructor(
    private readonly client: RedisClient,
    private readonly subscriber: RedisClient,
    private readonly prefix: string,
    options: RedisBackplaneOptions,
  ) {
    this.memberGraceMs = options.memberGraceMs ?? 15_000;
    this.typingTtlMs = options.typingTtlMs ?? 6_000;
    this.maxRooms = options.maxRooms ?? 50;
    this.maxMembersPerRoom = options.maxMembersPerRoom ?? 200;
    this.presenceTtlMs = options.presenceTtlMs ?? 15_000;
    this.historySize = options.historySize ?? LIMITS.historySize;
    this.attachments = new RedisAttachmentStore(client, prefix, options.attachments);
    this.heartbeat = setInterval(() => void this.renew().catch(() => {}), this.presenceTtlMs / 3);
    this.heartbeat.unref?.();
  }

  /** Connects to `url` (e.g. "redis://127.0.0.1:6379"); rejects with a clear error when Redis cannot be reached. */
  static async connect(url: string, options: RedisBackplaneOptions = {}): Promise<RedisBackplane> {
    const log = options.log ?? ((line: string) => console.error(line));
    const { client, subscriber } = await connectRedis(url, log);
    const prefix = options.keyPrefix ?? "chat:";
    const backplane = new RedisBackplane(client, subscriber, prefix, options);
    try {
      backplane.fanout = await RedisFanout.start(client, subscriber, prefix, backplane.instance, (room, payload) =>
        backplane.lastNames.set(payload.charAt(0) + room, payload),
      );
      await client.zAdd(
        `${prefix}rooms`,
        DEFAULT_ROOMS.map((value, score) => ({ score, value })),
        { condition: "NX" },
      );
    } catch (err) {
      await backplane.close();
      throw err;
    }
    return backplane;
  }

  listRooms(): Promise<RoomSummary[]> {
    return guarded(async () => {
      const names = await this.client.zRange(this.key("rooms"), 0, -1);
      const pipeline = this.client.multi();
      for (const room of names) pipeline.zRangeByScore(this.key("online", room), Date.now(), "+inf");
      const online = (await pipeline.execAsPipeline()) as unknown as string[][];
      return names.map((name, i) => ({ name, online: new Set((online[i] ?? []).map(nameOfEntry)).size }));
    });
  }

  async join(roomName: string, rawName: string, resumeToken: string): Promise<{ member: Member; resumed: boolean }> {
    const room = checkName(roomName, "room");
    const name = checkName(rawName, "name");
    const folded = name.toLowerCase();
    const resume = resumeToken.length <= 64 ? resumeToken : "";
    const token = randomUUID();
    const reply = (await guarded(() =>
      this.client.eval(JOIN, {
        keys: [
          this.key("rooms"),
          this.key("name", room, folded),
          this.key("members", room),
          this.key("token", token),
          this.key("token", resume),
        ],
        arguments: [
          room,
          name,
          token,
          resume,
          String(this.memberGraceMs),
          String(Date.now()),
          String(this.maxRooms),
          String(this.maxMembersPerRoom),
          folded,
        ],
      }),
    )) as string[];
    switch (reply[0]) {
      case "rooms":
        throw new ConnectError("too many rooms", Code.ResourceExhausted);
      case "full":
        throw new ConnectError(`#${room} is full`, Code.ResourceExhausted);
      case "taken":
        throw new ConnectError(`the name "${reply[1]}" is already taken in #${room}`, Code.AlreadyExists);
      default:
        return { member: { room, name: reply[2]!, token: reply[1]! }, resumed: reply[0] === "resumed" };
    }
  }

  async authorize(roomName: string, token: string): Promise<Member> {
    const value =
      token === "" || token.length > 64 ? null : await guarded(() => this.client.get(this.key("token", token)));
    const sep = value?.indexOf("|") ?? -1;
    if (!value || sep < 0 || value.slice(0, sep) !== roomName.normalize("NFC").trim()) {
      throw new ConnectError("not a member of this room; join it first", Code.Unauthenticated);
    }
    return { room: value.slice(0, sep), name: value.slice(sep + 1), token };
  }

  async post(
    member: Member,
    text: string,
    attachment?: MessageInitShape<typeof AttachmentSchema>,
  ): Promise<ChatMessage> {
    const message = create(ChatMessageSchema, {
      room: member.room,
      author: member.name,
      text,
      sentAt: timestampNow(),
      attachment,
    });
    const body = Buffer.from(toBinary(ChatMessageSchema, message)).toString("base64");
    message.id = String(
      await guarded(() =>
        this.client.eval(POST, {
          keys: [this.key("log", member.room), this.channel(member.room)],
          arguments: [String(this.historySize), body],
        }),
      ),
    );
    await this.setTyping(member, false);
    return message;
  }

  room(room: string): ResumableSource<RoomEvent> {
    const log = this.key("log", room);
    const entries = (list: Array<{ id: string; message: Record<string, string> }> | null) =>
      (list ?? []).map((e) => messageEventFrom(e.id, e.message["m"] ?? ""));
    return {
      subscribe: async (deliver, fail) => this.fanout.subscribe(room, deliver, fail),
      positionOf: messagePosition,
      compare: compareStreamIds,
      readAfter: (position, limit) =>
        guarded(async () => {
          if (position === undefined) return entries(await this.client.xRange(log, "-", "+", { COUNT: limit }));
          // Atomically: is the position still kept, and what follows it (XREAD from an id is exclusive).
          const [kept, read] = (await this.client
            .multi()
            .xRange(log, position, position)
            .xRead({ key: log, id: position }, { COUNT: limit })
            .exec()) as unknown as [
            unknown[],
            Array<{ messages: Array<{ id: string; message: Record<string, string> }> }> | null,
          ];
          if (kept.length === 0) return undefined;
          return entries(read?.[0]?.messages ?? []);
        }),
      readLast: (count) =>
        guarded(async () =>
          count <= 0 ? [] : entries(await this.client.xRevRange(log, "+", "-", { COUNT: count })).reverse(),
        ),
    };
  }

  async goOnline(member: Member): Promise<() => void> {
    const entry = this.local.get(member.token) ?? { member, follows: 0 };
    this.local.set(member.token, entry);
    entry.follows++;
    try {
      await this.touch(member);
      // Always published: the new Follow call learns who is online from this event.
      await this.names("p", member.room, "add", member.name, this.presenceTtlMs, true);
    } catch (err) {
      this.release(entry);
      throw err;
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.release(entry);
    };
  }

  async setTyping(member: Member, typing: boolean): Promise<void> {
    const wasTyping = this.typingTimers.has(member.token);
    clearTimeout(this.typingTimers.get(member.token));
    this.typingTimers.delete(member.token);
    if (typing) {
      const timer = setTimeout(() => void this.setTyping(member, false).catch(() => {}), this.typingTtlMs);
      timer.unref?.();
      this.typingTimers.set(member.token, timer);
    }
    if (typing || wasTyping)
      await this.names("t", member.room, typing ? "add" : "rem", member.name, this.typingTtlMs, wasTyping !== typing);
  }

  async typingNames(room: string): Promise<string[]> {
    const payload = await this.names("t", room, "none", "", 0, false);
    const event = decodeLive(payload).event;
    return event.case === "typing" ? event.value.names : [];
  }

  async markRead(member: Member, messageId: string): Promise<void> {
    const event = create(RoomEventSchema, { event: { case: "read", value: { reader: member.name, messageId } } });
    await guarded(() =>
      this.client.publish(
        this.channel(member.room),
        "e" + Buffer.from(toBinary(RoomEventSchema, event)).toString("base64"),
      ),
    );
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    this.fanout?.stop();
    for (const timer of this.typingTimers.values()) clearTimeout(timer);
    this.typingTimers.clear();
    // Others see this instance's members go offline now rather than when their entries expire.
    if (this.client.isReady) {
      await Promise.allSettled(
        [...this.local.values()].map((e) => this.names("p", e.member.room, "rem", e.member.name, 0, true)),
      );
    }
    this.local.clear();
    for (const c of [this.subscriber, this.client]) {
      if (c.isReady) await c.close().catch(() => c.destroy());
      else if (c.isOpen) c.destroy();
    }
  }

  private release(entry: LocalMember): void {
    entry.follows--;
    if (entry.follows > 0) return;
    const { member } = entry;
    this.local.delete(member.token);
    void (async () => {
      await this.setTyping(member, false);
      await this.names("p", member.room, "rem", member.name, 0, true);
      // The name stays reserved for the grace period from now.
      await this.client
        .multi()
        .pExpire(this.key("name", member.room, member.name.toLowerCase()), this.memberGraceMs)
        .pExpire(this.key("token", member.token), this.memberGraceMs)
        .exec();
    })().catch(() => {}); // unreachable Redis: the entries expire by themselves
  }

  /** Keeps an online member's name, token and member-count entry alive. */
  private async touch(member: Member): Promise<void> {
    const ttl = this.memberGraceMs + this.presenceTtlMs;
    const folded = member.name.toLowerCase();
    await guarded(() =>
      this.client
        .multi()
        .pExpire(this.key("name", member.room, folded), ttl)
        .pExpire(this.key("token", member.token), ttl)
        .zAdd(this.key("members", member.room), { score: Date.now() + ttl, value: folded }, { GT: true })
        .exec(),
    );
  }

  /** Runs the NAMES script on the presence ("p") or typing ("t") set of a room; returns its payload. */
  private names(
    kind: "p" | "t",
    room: string,
    op: "add" | "rem" | "none",
    name: string,
    ttlMs: number,
    publish: boolean,
  ): Promise<string> {
    const now = Date.now();
    return guarded(async () => {
      const payload = String(
        await this.client.eval(NAMES, {
          keys: [this.key(kind === "p" ? "online" : "typing", room), this.channel(room)],
          arguments: [
            kind,
            op,
            `${this.instance}|${name}`,
            String(now + ttlMs),
            String(now),
            String(Math.max(ttlMs, 1) * 2),
            publish ? "1" : "0",
          ],
        }),
      );
      if (publish) this.lastNames.set(kind + room, payload);
      return payload;
    });
  }

  /** Heartbeat: renews this instance's entries, and publishes presence that changed by expiry (a crashed instance). */
  private async renew(): Promise<void> {
    for (const { member } of this.local.values()) {
      await this.touch(member);
      await this.names("p", member.room, "add", member.name, this.presenceTtlMs, false);
    }
    for (const room of this.fanout.localRooms()) {
      for (const kind of ["p", "t"] as const) {
        const payload = await this.names(kind, room, "none", "", 0, false);
        if (this.lastNames.get(kind + room) !== payload) await this.names(kind, room, "none", "", 0, true);
      }
    }
  }

  private channel(room: string): string {
    return this.fanout.channel(room);
  }

  private key(...parts: string[]): string {
    return this.prefix + parts.join(":");
  }
}

/** The name in a presence or typing entry "<instance>|<name>". */
function nameOfEntry(entry: string): string {
  return entry.slice(entry.indexOf("|") + 1);
}

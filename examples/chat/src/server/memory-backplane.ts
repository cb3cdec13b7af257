import { randomUUID } from "node:crypto";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
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
import { MemoryAttachmentStore } from "./attachments.js";
import { roomTopic, type BackplaneOptions, type ChatBackplane, type Member, type RoomSummary } from "./backplane.js";
import { MemoryPubSub } from "./pubsub.js";
import { compareStreamIds } from "../shared/positions.js";
import type { ResumableSource } from "./resumable-stream.js";
import { checkName } from "./validate.js";

interface MemberRecord extends Member {
  /** Open Follow calls; the member is online while this is above zero. */
  follows: number;
  releaseTimer: ReturnType<typeof setTimeout> | undefined;
  typingTimer: ReturnType<typeof setTimeout> | undefined;
}

interface Room {
  readonly name: string;
  /** Keyed by the case-folded name, so "Alice" and "alice" are the same member. */
  readonly members: Map<string, MemberRecord>;
  /** Oldest first; ids are "<epoch>-<seq>", ordered like Redis stream ids. */
  readonly history: ChatMessage[];
}

type RoomEventInit = MessageInitShape<typeof RoomEventSchema>["event"];

/**
 * Rooms, members and history in this process: one instance serves everyone. Every change
 * others must see is published on the in-memory PubSub; the handlers subscribe and relay.
 */
export class MemoryBackplane implements ChatBackplane {
  readonly attachments = new MemoryAttachmentStore();
  private readonly pubsub = new MemoryPubSub<RoomEvent>();
  private readonly rooms = new Map<string, Room>();
  private readonly byToken = new Map<string, MemberRecord>();
  private readonly memberGraceMs: number;
  private readonly typingTtlMs: number;
  private readonly maxRooms: number;
  private readonly maxMembersPerRoom: number;
  /** Message ids of a restarted server never match an earlier one's, so old positions read as "too old". */
  private readonly epoch = Date.now();
  private seq = 0;

  constructor(options: BackplaneOptions = {}) {
    this.memberGraceMs = options.memberGraceMs ?? 15_000;
    this.typingTtlMs = options.typingTtlMs ?? 6_000;
    this.maxRooms = options.maxRooms ?? 50;
    this.maxMembersPerRoom = options.maxMembersPerRoom ?? 200;
    for (const name of DEFAULT_ROOMS) this.rooms.set(name, newRoom(name));
  }

  listRooms(): Promise<RoomSummary[]> {
    return Promise.resolve([...this.rooms.values()].map((r) => ({ name: r.name, online: onlineNames(r).length })));
  }

  async join(roomName: string, rawName: string, resumeToken: string): Promise<{ member: Member; resumed: boolean }> {
    const room = this.roomFor(checkName(roomName, "room"));
    const name = checkName(rawName, "name");
    const key = name.toLowerCase();
    const existing = room.members.get(key);
    if (existing) {
      if (resumeToken !== "" && existing.token === resumeToken) return { member: existing, resumed: true };
      throw new ConnectError(`the name "${existing.name}" is already taken in #${room.name}`, Code.AlreadyExists);
    }
    if (room.members.size >= this.maxMembersPerRoom)
      throw new ConnectError(`#${room.name} is full`, Code.ResourceExhausted);
    const member: MemberRecord = {
      room: room.name,
      name,
      token: randomUUID(),
      follows: 0,
      releaseTimer: undefined,
      typingTimer: undefined,
    };
    room.members.set(key, member);
    this.byToken.set(member.token, member);
    this.scheduleRelease(member);
    return { member, resumed: false };
  }

  async authorize(roomName: string, token: string): Promise<Member> {
    return this.record(roomName, token);
  }

  async post(m: Member, text: string, attachment?: MessageInitShape<typeof AttachmentSchema>): Promise<ChatMessage> {
    const member = this.record(m.room, m.token);
    const room = this.rooms.get(member.room)!;
    const message = create(ChatMessageSchema, {
      id: `${this.epoch}-${++this.seq}`,
      room: room.name,
      author: member.name,
      text,
      sentAt: timestampNow(),
      attachment,
    });
    room.history.push(message);
    if (room.history.length > LIMITS.historySize) room.history.splice(0, room.history.length - LIMITS.historySize);
    await this.setTyping(member, false);
    this.publish(room.name, { case: "message", value: message });
    return message;
  }

  room(name: string): ResumableSource<RoomEvent> {
    const history = () => this.rooms.get(name)?.history ?? [];
    return {
      subscribe: (deliver) => Promise.resolve(this.pubsub.subscribe(roomTopic(name), deliver)),
      positionOf: messagePosition,
      compare: compareStreamIds,
      readAfter: (position, limit) => {
        const all = history();
        const at = position === undefined ? -1 : all.findIndex((m) => m.id === position);
        if (at === -1 && position !== undefined) return Promise.resolve(undefined);
        return Promise.resolve(all.slice(at + 1, at + 1 + limit).map(messageEvent));
      },
      readLast: (count) => Promise.resolve(count <= 0 ? [] : history().slice(-count).map(messageEvent)),
    };
  }

  async goOnline(m: Member): Promise<() => void> {
    const member = this.record(m.room, m.token);
    member.follows++;
    clearTimeout(member.releaseTimer);
    member.releaseTimer = undefined;
    // Always: the new Follow call learns who is online from this event.
    this.publishPresence(member.room);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      member.follows--;
      if (member.follows > 0) return;
      void this.setTyping(member, false);
      this.publishPresence(member.room);
      this.scheduleRelease(member);
    };
  }

  async setTyping(m: Member, typing: boolean): Promise<void> {
    const member = this.byToken.get(m.token);
    if (!member) return;
    const wasTyping = member.typingTimer !== undefined;
    clearTimeout(member.typingTimer);
    member.typingTimer = typing ? setTimeout(() => void this.setTyping(member, false), this.typingTtlMs) : undefined;
    member.typingTimer?.unref?.();
    if (wasTyping !== typing)
      this.publish(member.room, { case: "typing", value: { names: await this.typingNames(member.room) } });
  }

  async typingNames(roomName: string): Promise<string[]> {
    const room = this.rooms.get(roomName);
    return room
      ? [...room.members.values()]
          .filter((m) => m.typingTimer !== undefined)
          .map((m) => m.name)
          .sort()
      : [];
  }

  async markRead(member: Member, messageId: string): Promise<void> {
    this.publish(member.room, { case: "read", value: { reader: member.name, messageId } });
  }

  async close(): Promise<void> {
    for (const member of this.byToken.values()) {
      clearTimeout(member.releaseTimer);
      clearTimeout(member.typingTimer);
    }
    this.byToken.clear();
    this.rooms.clear();
  }

  private record(roomName: string, token: string): MemberRecord {
    const member = token === "" ? undefined : this.byToken.get(token);
    if (!member || member.room !== roomName.normalize("NFC").trim()) {
      throw new ConnectError("not a member of this room; join it first", Code.Unauthenticated);
    }
    return member;
  }

  private roomFor(name: string): Room {
    let room = this.rooms.get(name);
    if (room) return room;
    if (this.rooms.size >= this.maxRooms) throw new ConnectError("too many rooms", Code.ResourceExhausted);
    room = newRoom(name);
    this.rooms.set(name, room);
    return room;
  }

  private scheduleRelease(member: MemberRecord): void {
    clearTimeout(member.releaseTimer);
    member.releaseTimer = setTimeout(() => {
      if (member.follows > 0) return;
      this.rooms.get(member.room)?.members.delete(member.name.toLowerCase());
      this.byToken.delete(member.token);
      clearTimeout(member.typingTimer);
    }, this.memberGraceMs);
    member.releaseTimer.unref?.();
  }

  private publishPresence(roomName: string): void {
    const room = this.rooms.get(roomName);
    if (room) this.publish(roomName, { case: "presence", value: { online: onlineNames(room) } });
  }

  private publish(room: string, event: RoomEventInit): void {
    void this.pubsub.publish(roomTopic(room), create(RoomEventSchema, { event }));
  }
}

/** A room event's log position: the id of a message; presence, typing and receipts have none. */
export function messagePosition(event: RoomEvent): string | undefined {
  return event.event.case === "message" ? event.event.value.id : undefined;
}

export function messageEvent(message: ChatMessage): RoomEvent {
  return create(RoomEventSchema, { event: { case: "message", value: message } });
}

function newRoom(name: string): Room {
  return { name, members: new Map(), history: [] };
}

function onlineNames(room: Room): string[] {
  return [...room.members.values()]
    .filter((m) => m.follows > 0)
    .map((m) => m.name)
    .sort();
}

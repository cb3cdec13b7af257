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
import type { PubSub } from "./pubsub.js";
import { checkName } from "./validate.js";

export interface ChatStateOptions {
  /** How long a name stays reserved while its member has no Follow call open (reconnect window). */
  memberGraceMs?: number;
  /** How long a "typing" signal lasts unless renewed. */
  typingTtlMs?: number;
  /** Most rooms that may exist at once. */
  maxRooms?: number;
  /** Most members (online or within their grace period) per room. */
  maxMembersPerRoom?: number;
}

export interface Member {
  readonly room: Room;
  readonly name: string;
  readonly token: string;
  /** Open Follow calls; the member is online while this is above zero. */
  follows: number;
  releaseTimer: ReturnType<typeof setTimeout> | undefined;
  typingTimer: ReturnType<typeof setTimeout> | undefined;
}

export interface Room {
  readonly name: string;
  /** Keyed by the case-folded name, so "Alice" and "alice" are the same member. */
  readonly members: Map<string, Member>;
  readonly history: ChatMessage[];
}

/** The topic of a room on the PubSub. */
export const roomTopic = (room: string): string => `room:${room}`;

/**
 * Rooms, members and history of one chat server. Every change that others must see
 * is published on the PubSub; the call handlers only subscribe and relay.
 */
export class ChatState {
  private readonly rooms = new Map<string, Room>();
  private readonly byToken = new Map<string, Member>();
  private readonly memberGraceMs: number;
  private readonly typingTtlMs: number;
  private readonly maxRooms: number;
  private readonly maxMembersPerRoom: number;

  constructor(
    readonly pubsub: PubSub<RoomEvent>,
    options: ChatStateOptions = {},
  ) {
    this.memberGraceMs = options.memberGraceMs ?? 15_000;
    this.typingTtlMs = options.typingTtlMs ?? 6_000;
    this.maxRooms = options.maxRooms ?? 50;
    this.maxMembersPerRoom = options.maxMembersPerRoom ?? 200;
    for (const name of DEFAULT_ROOMS) this.rooms.set(name, newRoom(name));
  }

  listRooms(): Array<{ name: string; online: number }> {
    return [...this.rooms.values()].map((r) => ({ name: r.name, online: onlineNames(r).length }));
  }

  /** Claims `name` in `room` (created on first join), or resumes the membership of `resumeToken`. */
  join(roomName: string, rawName: string, resumeToken: string): { member: Member; resumed: boolean } {
    const room = this.roomFor(checkName(roomName, "room"), true);
    const name = checkName(rawName, "name");
    const key = name.toLowerCase();
    const existing = room.members.get(key);
    if (existing) {
      if (resumeToken !== "" && existing.token === resumeToken) return { member: existing, resumed: true };
      throw new ConnectError(`the name "${existing.name}" is already taken in #${room.name}`, Code.AlreadyExists);
    }
    if (room.members.size >= this.maxMembersPerRoom) {
      throw new ConnectError(`#${room.name} is full`, Code.ResourceExhausted);
    }
    const member: Member = { room, name, token: randomUUID(), follows: 0, releaseTimer: undefined, typingTimer: undefined };
    room.members.set(key, member);
    this.byToken.set(member.token, member);
    this.scheduleRelease(member);
    return { member, resumed: false };
  }

  /** The member holding `token` in `room`; UNAUTHENTICATED otherwise (e.g. after a server restart). */
  authorize(roomName: string, token: string): Member {
    const member = token === "" ? undefined : this.byToken.get(token);
    if (!member || member.room.name !== roomName.normalize("NFC").trim()) {
      throw new ConnectError("not a member of this room; join it first", Code.Unauthenticated);
    }
    return member;
  }

  /** Appends a message to the room's history and publishes it. */
  post(member: Member, text: string, attachment?: MessageInitShape<typeof AttachmentSchema>): ChatMessage {
    const message = create(ChatMessageSchema, {
      id: randomUUID(),
      room: member.room.name,
      author: member.name,
      text,
      sentAt: timestampNow(),
      attachment,
    });
    const history = member.room.history;
    history.push(message);
    if (history.length > LIMITS.historySize) history.splice(0, history.length - LIMITS.historySize);
    this.setTyping(member, false);
    this.publish(member.room, { case: "message", value: message });
    return message;
  }

  /** The last `limit` messages of the room. */
  history(room: Room, limit: number): ChatMessage[] {
    const n = Math.min(limit, LIMITS.historySize);
    return n <= 0 ? [] : room.history.slice(-n);
  }

  /** Marks one Follow call of the member open; the returned function marks it closed. */
  goOnline(member: Member): () => void {
    member.follows++;
    clearTimeout(member.releaseTimer);
    member.releaseTimer = undefined;
    if (member.follows === 1) this.publishPresence(member.room);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      member.follows--;
      if (member.follows > 0) return;
      this.setTyping(member, false);
      this.publishPresence(member.room);
      this.scheduleRelease(member);
    };
  }

  setTyping(member: Member, typing: boolean): void {
    const wasTyping = member.typingTimer !== undefined;
    clearTimeout(member.typingTimer);
    member.typingTimer = typing ? setTimeout(() => this.setTyping(member, false), this.typingTtlMs) : undefined;
    member.typingTimer?.unref?.();
    if (wasTyping !== typing) this.publish(member.room, { case: "typing", value: { names: typingNames(member.room) } });
  }

  typingNames(room: Room): string[] {
    return typingNames(room);
  }

  markRead(member: Member, messageId: string): void {
    if (messageId.length === 0 || messageId.length > 64) {
      throw new ConnectError("invalid message id", Code.InvalidArgument);
    }
    this.publish(member.room, { case: "read", value: { reader: member.name, messageId } });
  }

  /** Stops all timers; the state is unusable afterwards. */
  dispose(): void {
    for (const member of this.byToken.values()) {
      clearTimeout(member.releaseTimer);
      clearTimeout(member.typingTimer);
    }
    this.byToken.clear();
    this.rooms.clear();
  }

  private roomFor(name: string, createIfMissing: boolean): Room {
    let room = this.rooms.get(name);
    if (room) return room;
    if (!createIfMissing) throw new ConnectError(`no room #${name}`, Code.NotFound);
    if (this.rooms.size >= this.maxRooms) throw new ConnectError("too many rooms", Code.ResourceExhausted);
    room = newRoom(name);
    this.rooms.set(name, room);
    return room;
  }

  private scheduleRelease(member: Member): void {
    clearTimeout(member.releaseTimer);
    member.releaseTimer = setTimeout(() => {
      if (member.follows > 0) return;
      member.room.members.delete(member.name.toLowerCase());
      this.byToken.delete(member.token);
      clearTimeout(member.typingTimer);
    }, this.memberGraceMs);
    member.releaseTimer.unref?.();
  }

  private publishPresence(room: Room): void {
    this.publish(room, { case: "presence", value: { online: onlineNames(room) } });
  }

  private publish(room: Room, event: MessageInitShape<typeof RoomEventSchema>["event"]): void {
    // The in-memory PubSub never rejects; a broker adapter logs its own failures.
    void this.pubsub.publish(roomTopic(room.name), create(RoomEventSchema, { event })).catch((err: unknown) => {
      console.error("publish failed:", err);
    });
  }
}

function newRoom(name: string): Room {
  return { name, members: new Map(), history: [] };
}

function onlineNames(room: Room): string[] {
  return [...room.members.values()].filter((m) => m.follows > 0).map((m) => m.name).sort();
}

function typingNames(room: Room): string[] {
  return [...room.members.values()].filter((m) => m.typingTimer !== undefined).map((m) => m.name).sort();
}

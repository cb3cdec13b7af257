import type { MessageInitShape } from "@bufbuild/protobuf";
import type { AttachmentSchema, ChatMessage, RoomEvent } from "../../../../gen/chat/v1/chat_pb.js";
import type { ResumableSource } from "./resumable-stream.js";

/** A member's claim on a name in a room; the token proves it in later calls. */
export interface Member {
  readonly room: string;
  readonly name: string;
  readonly token: string;
}

export interface RoomSummary {
  name: string;
  online: number;
}

export interface StoredAttachment {
  readonly id: string;
  readonly fileName: string;
  readonly contentType: string;
  readonly bytes: Uint8Array;
}

/** Uploaded files, bounded; the oldest are dropped first (their links then answer 404). */
export interface AttachmentStore {
  add(fileName: string, contentType: string, bytes: Uint8Array): Promise<StoredAttachment>;
  get(id: string): Promise<StoredAttachment | undefined>;
}

export interface BackplaneOptions {
  /** How long a name stays reserved while its member has no Follow call open (reconnect window). Default 15 s. */
  memberGraceMs?: number;
  /** How long a "typing" signal lasts unless renewed. Default 6 s. */
  typingTtlMs?: number;
  /** Most rooms that may exist at once. Default 50. */
  maxRooms?: number;
  /** Most members (online or within their grace period) per room. Default 200. */
  maxMembersPerRoom?: number;
}

/**
 * Everything the chat shares between calls: rooms, names, history, presence, typing, files.
 * `MemoryBackplane` keeps it in this process (one instance, the default); `RedisBackplane`
 * keeps it in Redis so several instances serve the same rooms. The handlers see only this.
 * Every method fails with a ConnectError: the chat's own codes, or UNAVAILABLE when the
 * storage cannot be reached.
 */
export interface ChatBackplane {
  readonly attachments: AttachmentStore;
  listRooms(): Promise<RoomSummary[]>;
  /** Claims `name` in `room` (created on first join), or resumes the membership of `resumeToken`. */
  join(room: string, name: string, resumeToken: string): Promise<{ member: Member; resumed: boolean }>;
  /** The member holding `token` in `room`; UNAUTHENTICATED otherwise. */
  authorize(room: string, token: string): Promise<Member>;
  /** Appends a message to the room's log (its id is its log position) and publishes it. */
  post(member: Member, text: string, attachment?: MessageInitShape<typeof AttachmentSchema>): Promise<ChatMessage>;
  /**
   * The room's events: messages are logged (position = message id), presence, typing and read
   * receipts are live only. For `resumeStream` and for plain subscriptions.
   */
  room(room: string): ResumableSource<RoomEvent>;
  /** Marks one Follow call of the member open (and publishes presence); the returned function closes it. */
  goOnline(member: Member): Promise<() => void>;
  setTyping(member: Member, typing: boolean): Promise<void>;
  typingNames(room: string): Promise<string[]>;
  markRead(member: Member, messageId: string): Promise<void>;
  /** Stops timers and connections. */
  close(): Promise<void>;
}

/** The topic of a room on a PubSub. */
export const roomTopic = (room: string): string => `room:${room}`;

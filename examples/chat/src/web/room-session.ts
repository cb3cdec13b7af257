import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import type {
  ChatMessage,
  ChatService,
  SessionRequestSchema,
  UploadAttachmentRequestSchema,
  UploadAttachmentResponse,
} from "../../../../gen/chat/v1/chat_pb.js";
import { AsyncQueue } from "../shared/async-queue.js";
import { LIMITS } from "../shared/limits.js";
import { compareStreamIds } from "../shared/positions.js";
import { Backoff } from "./backoff.js";

export type ChatClient = Client<typeof ChatService>;
type SessionRequestInit = MessageInitShape<typeof SessionRequestSchema>;

/** Whether this room's streams are up: "live" once the Follow call has replayed history. */
export type LinkState = "connecting" | "live" | "down";

export interface RoomListener {
  message(message: ChatMessage): void;
  presence(online: string[]): void;
  typing(names: string[]): void;
  read(reader: string, messageId: string): void;
  /** The streams' state; `error` says why they are down. */
  link(state: LinkState, error?: ConnectError): void;
  /** A (re)join handed out this token: keep it, a reload resumes the membership with it. */
  token(token: string): void;
  /**
   * The resume position was older than the kept history: the stream starts over with a history
   * replay (the list keeps what it shows, by id; what was trimmed in between is gone).
   */
  historyReset(): void;
  /** Messages the Follow stream delivered, and how many of those it had delivered before. */
  stats(delivered: number, repeated: number): void;
  /** The membership cannot be restored (e.g. the name was taken while we were away). */
  fatal(error: ConnectError): void;
}

const HISTORY = 100;
const CALL_TIMEOUT_MS = 10_000;
/** A "typing" signal lasts 6 s on the server; renew it well before. */
const TYPING_RENEW_MS = 3_000;

/**
 * One member in one room. Keeps the Follow (server streaming) and Session (bidi) calls
 * open, and re-establishes them after a connection drop: join again with the resume
 * token (a restarted server hands out a new one), then follow and session again, with
 * backoff between failed attempts.
 */
export class RoomSession {
  private readonly stopped = new AbortController();
  private readonly backoff = new Backoff();
  private outbox: AsyncQueue<SessionRequestInit> | undefined;
  private typingSentAt = 0;
  private lastRead = "";
  /** Id of the newest message the Follow stream delivered: where a reconnect resumes. */
  private position = "";
  /** Messages Follow delivered, and how many of them it had delivered before (resuming keeps this 0). */
  private readonly stats = { delivered: 0, repeated: 0 };

  private constructor(
    private readonly client: ChatClient,
    readonly room: string,
    readonly name: string,
    private token: string,
    private readonly listener: RoomListener,
  ) {}

  /** Joins (errors such as ALREADY_EXISTS reject here) and starts the streams. */
  static async join(
    client: ChatClient,
    room: string,
    name: string,
    resumeToken: string,
    listener: RoomListener,
  ): Promise<RoomSession> {
    const res = await client.join({ room, name, resumeToken }, { timeoutMs: CALL_TIMEOUT_MS });
    const session = new RoomSession(client, room, name, res.token, listener);
    listener.token(res.token);
    void session.run();
    return session;
  }

  /** The token to resume this membership later (kept per room by the page). */
  get resumeToken(): string {
    return this.token;
  }

  /** Retries now instead of waiting for the backoff delay. */
  retryNow(): void {
    this.backoff.wake();
  }

  leave(): void {
    this.stopped.abort();
    this.outbox?.end();
  }

  async send(text: string): Promise<ChatMessage | undefined> {
    const res = await this.client.sendMessage(
      { room: this.room, token: this.token, text },
      { timeoutMs: CALL_TIMEOUT_MS },
    );
    this.typingSentAt = 0;
    return res.message;
  }

  /** Coalesces keystrokes into at most one signal per TYPING_RENEW_MS. */
  setTyping(typing: boolean): void {
    const now = Date.now();
    if (typing && now - this.typingSentAt < TYPING_RENEW_MS) return;
    if (!typing && this.typingSentAt === 0) return;
    this.typingSentAt = typing ? now : 0;
    this.outbox?.push({ event: { case: "typing", value: { typing } } });
  }

  markRead(messageId: string): void {
    if (messageId === this.lastRead) return;
    this.lastRead = messageId;
    this.outbox?.push({ event: { case: "read", value: { messageId } } });
  }

  /** Client streaming: a header, then the file in chunks; `progress` follows what the transport has taken. */
  upload(file: File, progress: (sent: number, total: number) => void): Promise<UploadAttachmentResponse> {
    const { room, token } = this;
    async function* parts(): AsyncGenerator<MessageInitShape<typeof UploadAttachmentRequestSchema>> {
      yield {
        part: { case: "header", value: { room, token, fileName: file.name, contentType: file.type, size: file.size } },
      };
      for (let offset = 0; offset < file.size; offset += LIMITS.uploadChunkBytes) {
        const chunk = new Uint8Array(await file.slice(offset, offset + LIMITS.uploadChunkBytes).arrayBuffer());
        yield { part: { case: "chunk", value: chunk } };
        // Runs when the transport pulls the next part, i.e. once it has taken this chunk.
        progress(offset + chunk.byteLength, file.size);
      }
    }
    return this.client.uploadAttachment(parts(), { timeoutMs: 60_000, signal: this.stopped.signal });
  }

  private async run(): Promise<void> {
    let rejoin = false;
    let lastError: ConnectError | undefined;
    while (!this.stopped.signal.aborted) {
      const attempt = new AbortController();
      const stopAttempt = () => attempt.abort();
      this.stopped.signal.addEventListener("abort", stopAttempt);
      try {
        if (rejoin) {
          this.listener.link("connecting");
          const res = await this.client.join(
            { room: this.room, name: this.name, resumeToken: this.token },
            { timeoutMs: CALL_TIMEOUT_MS, signal: attempt.signal },
          );
          this.token = res.token;
          this.listener.token(res.token);
        }
        rejoin = true;
        void this.sessionLoop(attempt.signal);
        await this.follow(attempt.signal);
      } catch (err) {
        if (this.stopped.signal.aborted) return;
        lastError = ConnectError.from(err);
        // Our name went to someone else, or the room refuses us: retrying cannot help.
        if (lastError.code === Code.AlreadyExists || lastError.code === Code.InvalidArgument) {
          this.listener.link("down", lastError);
          this.listener.fatal(lastError);
          return;
        }
        if (lastError.code === Code.OutOfRange) {
          // Too old to resume: follow again at once, with a history replay.
          this.position = "";
          this.listener.historyReset();
          continue;
        }
      } finally {
        attempt.abort();
        this.stopped.signal.removeEventListener("abort", stopAttempt);
      }
      if (this.stopped.signal.aborted) return;
      this.listener.link("down", lastError);
      await this.backoff.wait(this.stopped.signal);
    }
  }

  /**
   * Server streaming: history (or, after a drop, everything after the last message seen), then
   * live messages and presence; returns only by throwing.
   */
  private async follow(signal: AbortSignal): Promise<void> {
    const stream = this.client.follow(
      { room: this.room, token: this.token, history: HISTORY, resumeAfter: this.position },
      { signal },
    );
    for await (const res of stream) {
      switch (res.event.case) {
        case "message": {
          const { id } = res.event.value;
          this.stats.delivered++;
          if (this.position !== "" && compareStreamIds(id, this.position) <= 0) this.stats.repeated++;
          else this.position = id;
          this.listener.stats(this.stats.delivered, this.stats.repeated);
          this.listener.message(res.event.value);
          break;
        }
        case "presence":
          this.listener.presence(res.event.value.online);
          break;
        case "historyEnd":
          this.backoff.reset();
          this.listener.link("live");
          break;
      }
    }
    throw new ConnectError("the server ended the room stream", Code.Unavailable);
  }

  /** Bidi: typing and read signals out, who types and who read what in. Retries until the attempt ends. */
  private async sessionLoop(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff(500, 4000);
    while (!signal.aborted) {
      // Typing and read signals are coalesced before they get here; the oldest go first past 100.
      const outbox = new AsyncQueue<SessionRequestInit>(100, "drop-oldest");
      outbox.push({ event: { case: "hello", value: { room: this.room, token: this.token } } });
      if (this.lastRead) outbox.push({ event: { case: "read", value: { messageId: this.lastRead } } });
      this.outbox = outbox;
      this.typingSentAt = 0;
      try {
        for await (const res of this.client.session(outbox, { signal })) {
          backoff.reset();
          if (res.event.case === "typing") this.listener.typing(res.event.value.names);
          else if (res.event.case === "read") this.listener.read(res.event.value.reader, res.event.value.messageId);
        }
      } catch {
        // A drop also fails Follow, which restarts everything; other errors retry below.
      } finally {
        outbox.end();
        if (this.outbox === outbox) this.outbox = undefined;
        this.listener.typing([]);
      }
      await backoff.wait(signal);
    }
  }
}

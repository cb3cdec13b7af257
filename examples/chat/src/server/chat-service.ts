import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  ChatService,
  type FollowResponseSchema,
  type RoomEvent,
  type SessionRequest,
  type SessionResponseSchema,
  type UploadAttachmentRequest,
  type UploadHeader,
} from "../../../../gen/chat/v1/chat_pb.js";
import { attachmentUrl, type AttachmentStore } from "./attachments.js";
import { roomTopic, type ChatState } from "./chat-state.js";
import { AsyncQueue } from "../shared/async-queue.js";
import { checkAttachmentSize, checkText, cleanContentType, cleanFileName } from "./validate.js";

type FollowEvent = MessageInitShape<typeof FollowResponseSchema>;
type SessionEvent = MessageInitShape<typeof SessionResponseSchema>;

/** Events a stream may fall behind before it is ended (the client then re-follows). */
const QUEUE_CAPACITY = 1000;
const tooSlow = () => new ConnectError("client is reading too slowly", Code.ResourceExhausted);

/** The ChatService handlers: thin adapters between calls and ChatState / PubSub. */
export function createChatService(state: ChatState, attachments: AttachmentStore): ServiceImpl<typeof ChatService> {
  return {
    listRooms() {
      return { rooms: state.listRooms() };
    },

    join(req) {
      const { member, resumed } = state.join(req.room, req.name, req.resumeToken);
      return { token: member.token, resumed };
    },

    sendMessage(req) {
      const member = state.authorize(req.room, req.token);
      return { message: state.post(member, checkText(req.text)) };
    },

    async *follow(req, ctx) {
      const member = state.authorize(req.room, req.token);
      const queue = new AsyncQueue<FollowEvent>(QUEUE_CAPACITY, tooSlow);
      const unsubscribe = state.pubsub.subscribe(roomTopic(member.room.name), (e: RoomEvent) => {
        if (e.event.case === "message" || e.event.case === "presence") queue.push({ event: e.event });
      });
      // Snapshot after subscribing and before anything else runs: no message is missed or doubled.
      const history = state.history(member.room, req.history);
      // Going online publishes the new presence, which reaches this follower through the queue too.
      const goOffline = state.goOnline(member);
      const stop = untilAborted(ctx, queue);
      try {
        for (const message of history) yield { event: { case: "message", value: message } };
        yield { event: { case: "historyEnd", value: {} } };
        yield* queue;
      } finally {
        stop();
        unsubscribe();
        goOffline();
      }
    },

    async *session(requests, ctx) {
      const input = requests[Symbol.asyncIterator]();
      const first = await input.next();
      if (first.done || first.value.event.case !== "hello") {
        throw new ConnectError("the first session message must be hello", Code.InvalidArgument);
      }
      const member = state.authorize(first.value.event.value.room, first.value.event.value.token);
      const queue = new AsyncQueue<SessionEvent>(QUEUE_CAPACITY, tooSlow);
      const unsubscribe = state.pubsub.subscribe(roomTopic(member.room.name), (e: RoomEvent) => {
        if (e.event.case === "typing") {
          queue.push({ event: { case: "typing", value: { names: e.event.value.names.filter((n) => n !== member.name) } } });
        } else if (e.event.case === "read" && e.event.value.reader !== member.name) {
          queue.push({ event: { case: "read", value: e.event.value } });
        }
      });
      const stop = untilAborted(ctx, queue);
      // Requests are read concurrently with the responses this generator yields.
      void (async () => {
        for (;;) {
          const next = await input.next();
          if (next.done) break;
          handleSessionRequest(state, member, next.value);
        }
      })().then(
        () => queue.end(),
        (err: unknown) => queue.fail(err),
      );
      try {
        const typing = state.typingNames(member.room).filter((n) => n !== member.name);
        if (typing.length > 0) yield { event: { case: "typing", value: { names: typing } } };
        yield* queue;
      } finally {
        stop();
        unsubscribe();
        state.setTyping(member, false);
        // Releases the request side if the reader above is still waiting on it.
        void input.return?.(undefined)?.catch(() => {});
      }
    },

    async uploadAttachment(requests) {
      let header: UploadHeader | undefined;
      const chunks: Uint8Array[] = [];
      let received = 0;
      for await (const req of requests) {
        if (!header) {
          header = checkUploadHeader(req);
          // Fails before any chunk arrives when the declared size is over the limit.
          checkAttachmentSize(header.size);
          state.authorize(header.room, header.token);
          continue;
        }
        if (req.part.case !== "chunk") throw new ConnectError("only chunks may follow the header", Code.InvalidArgument);
        received += req.part.value.byteLength;
        checkAttachmentSize(received);
        // Copy: the decoder's buffer may be reused for the next message.
        chunks.push(req.part.value.slice());
      }
      if (!header) throw new ConnectError("empty upload: send a header first", Code.InvalidArgument);
      if (received !== header.size) {
        throw new ConnectError(`upload ended after ${received} of ${header.size} bytes`, Code.InvalidArgument);
      }
      if (received === 0) throw new ConnectError("file is empty", Code.InvalidArgument);
      // Authorize again: the member may have been released during a slow upload.
      const member = state.authorize(header.room, header.token);
      const file = attachments.add(cleanFileName(header.fileName), cleanContentType(header.contentType), concat(chunks, received));
      const attachment = {
        id: file.id,
        fileName: file.fileName,
        contentType: file.contentType,
        size: received,
        url: attachmentUrl(file),
      };
      const message = state.post(member, "", attachment);
      return { attachment, message };
    },
  };
}

function handleSessionRequest(state: ChatState, member: Parameters<ChatState["setTyping"]>[0], req: SessionRequest): void {
  switch (req.event.case) {
    case "typing":
      state.setTyping(member, req.event.value.typing);
      return;
    case "read":
      state.markRead(member, req.event.value.messageId);
      return;
    case "hello":
      throw new ConnectError("hello may be sent only once", Code.InvalidArgument);
    default:
      // An empty or unknown event: ignore it, newer clients may send more kinds.
      return;
  }
}

function checkUploadHeader(req: UploadAttachmentRequest): UploadHeader {
  if (req.part.case !== "header") throw new ConnectError("the first upload message must be the header", Code.InvalidArgument);
  return req.part.value;
}

/** Ends `queue` when the call is cancelled, so a generator waiting on it returns. */
function untilAborted(ctx: HandlerContext, queue: AsyncQueue<unknown>): () => void {
  const onAbort = () => queue.end();
  if (ctx.signal.aborted) onAbort();
  ctx.signal.addEventListener("abort", onAbort);
  return () => ctx.signal.removeEventListener("abort", onAbort);
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  ChatService,
  type RoomEvent,
  type SessionRequest,
  type SessionResponseSchema,
  type UploadAttachmentRequest,
  type UploadHeader,
} from "../../../../gen/chat/v1/chat_pb.js";
import { AsyncQueue } from "../shared/async-queue.js";
import { LIMITS } from "../shared/limits.js";
import { isStreamId } from "../shared/positions.js";
import { attachmentUrl } from "./attachments.js";
import type { ChatBackplane, Member } from "./backplane.js";
import { resumeStream } from "./resumable-stream.js";
import { checkAttachmentSize, checkText, cleanContentType, cleanFileName } from "./validate.js";

type SessionEvent = MessageInitShape<typeof SessionResponseSchema>;

/** Events a Session stream may fall behind before it is ended (the client then opens it again). */
const QUEUE_CAPACITY = 1000;
const tooSlow = () => new ConnectError("client is reading too slowly", Code.ResourceExhausted);

/** The ChatService handlers: thin adapters between calls and the backplane. */
export function createChatService(chat: ChatBackplane): ServiceImpl<typeof ChatService> {
  return {
    async listRooms() {
      return { rooms: await chat.listRooms() };
    },

    async join(req) {
      const { member, resumed } = await chat.join(req.room, req.name, req.resumeToken);
      return { token: member.token, resumed };
    },

    async sendMessage(req) {
      const text = checkText(req.text);
      const member = await chat.authorize(req.room, req.token);
      return { message: await chat.post(member, text) };
    },

    async *follow(req, ctx) {
      if (req.resumeAfter !== "" && !isStreamId(req.resumeAfter)) {
        throw new ConnectError("resume_after is not a message id", Code.InvalidArgument);
      }
      const member = await chat.authorize(req.room, req.token);
      const from =
        req.resumeAfter !== "" ? { after: req.resumeAfter } : { replay: Math.min(req.history, LIMITS.historySize) };
      let goOffline: (() => void) | undefined;
      try {
        for await (const item of resumeStream(chat.room(member.room), from, { signal: ctx.signal })) {
          if ("caughtUp" in item) {
            yield { event: { case: "historyEnd", value: {} } };
            // Going online publishes the presence, which reaches this stream like any live event.
            goOffline = await chat.goOnline(member);
            continue;
          }
          const e = item.event.event;
          if (e.case === "message" || e.case === "presence") yield { event: e };
        }
      } finally {
        goOffline?.();
      }
    },

    async *session(requests, ctx) {
      const input = requests[Symbol.asyncIterator]();
      const first = await input.next();
      if (first.done || first.value.event.case !== "hello") {
        throw new ConnectError("the first session message must be hello", Code.InvalidArgument);
      }
      const member = await chat.authorize(first.value.event.value.room, first.value.event.value.token);
      const queue = new AsyncQueue<SessionEvent>(QUEUE_CAPACITY, tooSlow);
      const unsubscribe = await chat.room(member.room).subscribe(
        (e: RoomEvent) => {
          if (e.event.case === "typing") {
            queue.push({
              event: { case: "typing", value: { names: e.event.value.names.filter((n) => n !== member.name) } },
            });
          } else if (e.event.case === "read" && e.event.value.reader !== member.name) {
            queue.push({ event: { case: "read", value: e.event.value } });
          }
        },
        (err) => queue.fail(err),
      );
      const stop = untilAborted(ctx, queue);
      // Requests are read concurrently with the responses this generator yields.
      void (async () => {
        for (;;) {
          const next = await input.next();
          if (next.done) break;
          await handleSessionRequest(chat, member, next.value);
        }
      })().then(
        () => queue.end(),
        (err: unknown) => queue.fail(err),
      );
      try {
        const typing = (await chat.typingNames(member.room)).filter((n) => n !== member.name);
        if (typing.length > 0) yield { event: { case: "typing", value: { names: typing } } };
        yield* queue;
      } finally {
        stop();
        unsubscribe();
        void chat.setTyping(member, false).catch(() => {});
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
          await chat.authorize(header.room, header.token);
          continue;
        }
        if (req.part.case !== "chunk")
          throw new ConnectError("only chunks may follow the header", Code.InvalidArgument);
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
      const member = await chat.authorize(header.room, header.token);
      const file = await chat.attachments.add(
        cleanFileName(header.fileName),
        cleanContentType(header.contentType),
        concat(chunks, received),
      );
      const attachment = {
        id: file.id,
        fileName: file.fileName,
        contentType: file.contentType,
        size: received,
        url: attachmentUrl(file),
      };
      const message = await chat.post(member, "", attachment);
      return { attachment, message };
    },
  };
}

async function handleSessionRequest(chat: ChatBackplane, member: Member, req: SessionRequest): Promise<void> {
  switch (req.event.case) {
    case "typing":
      return chat.setTyping(member, req.event.value.typing);
    case "read": {
      const id = req.event.value.messageId;
      if (id.length === 0 || id.length > 64) throw new ConnectError("invalid message id", Code.InvalidArgument);
      return chat.markRead(member, id);
    }
    case "hello":
      throw new ConnectError("hello may be sent only once", Code.InvalidArgument);
    default:
      // An empty or unknown event: ignore it, newer clients may send more kinds.
      return;
  }
}

function checkUploadHeader(req: UploadAttachmentRequest): UploadHeader {
  if (req.part.case !== "header")
    throw new ConnectError("the first upload message must be the header", Code.InvalidArgument);
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

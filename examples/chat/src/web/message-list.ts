import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Attachment, ChatMessage } from "../../../../gen/chat/v1/chat_pb.js";
import { formatBytes } from "../shared/format.js";
import { h } from "./dom.js";

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

interface Entry {
  readonly message: ChatMessage;
  readonly at: number;
  readonly el: HTMLLIElement;
}

/**
 * The room's messages in time order, deduplicated by id: after a reconnect the
 * history replay repeats what is already shown, and a sent message arrives both as
 * the unary response and on the Follow stream.
 */
export class MessageList {
  private readonly entries: Entry[] = [];
  private readonly ids = new Set<string>();
  /** Reader -> id of the newest message they have read. */
  private readonly reads = new Map<string, string>();

  constructor(
    private readonly el: HTMLOListElement,
    private readonly me: string,
  ) {
    this.renderEmpty();
  }

  /** Adds a message unless already shown; returns whether it was new. */
  add(message: ChatMessage): boolean {
    if (this.ids.has(message.id)) return false;
    this.ids.add(message.id);
    const at = message.sentAt ? timestampDate(message.sentAt).getTime() : Date.now();
    const entry: Entry = { message, at, el: renderMessage(message, at, message.author === this.me) };
    const stick = this.nearBottom();
    let i = this.entries.length;
    while (i > 0 && this.entries[i - 1]!.at > at) i--;
    this.entries.splice(i, 0, entry);
    this.el.querySelector(".empty")?.remove();
    this.el.insertBefore(entry.el, this.entries[i + 1]?.el ?? null);
    if (stick) this.el.scrollTop = this.el.scrollHeight;
    return true;
  }

  /** Marks where history was reloaded because the stream could not resume (messages in between may be missing). */
  markGap(): void {
    this.el.append(
      h(
        "li",
        { class: "gap", "data-testid": "history-gap" },
        "Reconnected after a long time: some earlier messages may be missing.",
      ),
    );
  }

  /** The newest message written by someone else: what "read up to" refers to. */
  newestFromOthers(): ChatMessage | undefined {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const m = this.entries[i]!.message;
      if (m.author !== this.me) return m.id ? m : undefined;
    }
    return undefined;
  }

  setRead(reader: string, messageId: string): void {
    this.reads.set(reader, messageId);
    this.renderReceipts();
  }

  private renderReceipts(): void {
    for (const old of this.el.querySelectorAll(".receipt")) old.remove();
    const byMessage = new Map<string, string[]>();
    for (const [reader, id] of this.reads) byMessage.set(id, [...(byMessage.get(id) ?? []), reader]);
    for (const entry of this.entries) {
      const readers = byMessage.get(entry.message.id);
      if (readers)
        entry.el.append(
          h("div", { class: "receipt", "data-testid": "read-receipt" }, `Seen by ${readers.sort().join(", ")}`),
        );
    }
  }

  private nearBottom(): boolean {
    return this.el.scrollHeight - this.el.scrollTop - this.el.clientHeight < 80;
  }

  private renderEmpty(): void {
    this.el.replaceChildren(h("li", { class: "empty" }, "No messages yet. Say hello!"));
  }
}

function renderMessage(m: ChatMessage, at: number, mine: boolean): HTMLLIElement {
  const date = new Date(at);
  const avatar = h("div", { class: "avatar", "aria-hidden": "true" }, m.author.slice(0, 1));
  // CSSOM, not a style attribute: the page's CSP allows no inline styles.
  avatar.style.background = colorOf(m.author);
  return h(
    "li",
    { class: mine ? "msg mine" : "msg", "data-testid": "message", "data-id": m.id, "data-author": m.author },
    avatar,
    h(
      "div",
      { class: "meta" },
      h("span", { class: "author", "data-testid": "message-author" }, m.author),
      h(
        "time",
        { datetime: date.toISOString(), title: dateFormat.format(date), "data-testid": "message-time" },
        timeFormat.format(date),
      ),
    ),
    m.text ? h("div", { class: "text", "data-testid": "message-text" }, m.text) : null,
    m.attachment ? renderAttachment(m.attachment) : null,
  );
}

function renderAttachment(a: Attachment): HTMLElement {
  const isImage = /^image\/(png|jpeg|gif|webp)$/.test(a.contentType);
  const ext = (a.fileName.split(".").pop() ?? "").slice(0, 4).toUpperCase() || "FILE";
  return h(
    "div",
    {},
    h(
      "a",
      { class: "file-card", href: a.url, target: "_blank", rel: "noopener", "data-testid": "attachment-link" },
      isImage ? h("img", { src: a.url, alt: a.fileName, loading: "lazy" }) : h("span", { class: "icon" }, ext),
      h(
        "span",
        {},
        h("div", { "data-testid": "attachment-name" }, a.fileName),
        h("div", { class: "size" }, formatBytes(a.size)),
      ),
    ),
  );
}

/** A stable pleasant color per name. */
export function colorOf(name: string): string {
  let hash = 0;
  for (let i = 0; i < name.length; i++) hash = (hash * 31 + name.charCodeAt(i)) >>> 0;
  return `hsl(${hash % 360} 55% 50%)`;
}

import type { ConnectError } from "@connectrpc/connect";
import type { ChatMessage } from "../../../../gen/chat/v1/chat_pb.js";
import { byTestId, h } from "./dom.js";
import { MessageList } from "./message-list.js";
import type { LinkState, RoomListener } from "./room-session.js";

export interface RoomViewHooks {
  /** The link state changed (connection pill). */
  link(view: RoomView): void;
  /** A message was shown, or the presence changed (read receipts, room list). */
  activity(view: RoomView, kind: "message" | "presence"): void;
  fatal(view: RoomView, error: ConnectError): void;
  /** A (re)join handed out a new token for this room. */
  token(view: RoomView, token: string): void;
}

/**
 * What the page shows of one room. Collects events even before it is mounted, so
 * nothing that arrives while a room switch completes is lost.
 */
export class RoomView implements RoomListener {
  readonly messages: MessageList;
  readonly list: HTMLOListElement;
  online: string[] = [];
  typingNames: string[] = [];
  linkState: LinkState = "connecting";
  everLive = false;
  downSince = 0;
  /** Why the streams are down (shown under the connection pill). */
  lastError: ConnectError | undefined;
  private mounted = false;

  constructor(
    readonly room: string,
    readonly me: string,
    private readonly hooks: RoomViewHooks,
  ) {
    this.list = h("ol", { class: "messages", "data-testid": "message-list", "aria-live": "polite" });
    this.messages = new MessageList(this.list, me);
  }

  mount(): void {
    this.mounted = true;
    byTestId("message-list").replaceWith(this.list);
    byTestId("room-title").textContent = `# ${this.room}`;
    byTestId("my-name").textContent = this.me;
    this.renderOnline();
    this.renderTyping();
    this.list.scrollTop = this.list.scrollHeight;
  }

  message(message: ChatMessage): void {
    if (this.messages.add(message)) this.hooks.activity(this, "message");
  }

  presence(online: string[]): void {
    this.online = online;
    this.renderOnline();
    this.hooks.activity(this, "presence");
  }

  typing(names: string[]): void {
    this.typingNames = names;
    this.renderTyping();
  }

  read(reader: string, messageId: string): void {
    this.messages.setRead(reader, messageId);
  }

  link(state: LinkState, error?: ConnectError): void {
    if (state === "live") this.everLive = true;
    if (state !== "live" && this.linkState === "live") this.downSince = Date.now();
    this.linkState = state;
    if (state === "live") this.lastError = undefined;
    else if (error) this.lastError = error;
    // Who is online is only known while the stream is live.
    this.renderOnline();
    this.hooks.link(this);
  }

  fatal(error: ConnectError): void {
    this.hooks.fatal(this, error);
  }

  token(token: string): void {
    this.hooks.token(this, token);
  }

  historyReset(): void {
    this.messages.markGap();
  }

  /** The Follow stream's delivery counts, on the list element (the browser test checks no message came twice). */
  stats(delivered: number, repeated: number): void {
    this.list.dataset["delivered"] = String(delivered);
    this.list.dataset["repeated"] = String(repeated);
  }

  private renderOnline(): void {
    if (!this.mounted) return;
    const live = this.linkState === "live";
    byTestId("online-count").textContent = live ? String(this.online.length) : "–";
    byTestId("room-subtitle").textContent = live
      ? `${this.online.length} online`
      : this.everLive
        ? "not connected: presence unknown"
        : "connecting…";
    const list = byTestId("online-list");
    list.dataset["stale"] = String(!live);
    list.replaceChildren(
      ...this.online.map((name) =>
        h("li", { "data-testid": "online-member", "data-name": name }, name === this.me ? `${name} (you)` : name),
      ),
    );
  }

  private renderTyping(): void {
    if (!this.mounted) return;
    const el = byTestId("typing-indicator");
    el.textContent = typingText(this.typingNames);
    el.dataset["names"] = this.typingNames.join(",");
  }
}

function typingText(names: string[]): string {
  if (names.length === 0) return "";
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return `${names.length} people are typing…`;
}

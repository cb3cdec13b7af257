import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createWebSocketTransport } from "@grpc-ws/client";
import { ChatService } from "../../../../gen/chat/v1/chat_pb.js";
import { LIMITS } from "../shared/limits.js";
import { byTestId, h } from "./dom.js";
import { RoomSession } from "./room-session.js";
import { RoomView } from "./room-view.js";
import { Uploader } from "./uploader.js";

type Status = "connecting" | "online" | "reconnecting" | "offline";
const STATUS_LABEL: Record<Status, string> = {
  connecting: "Connecting…",
  online: "Online",
  reconnecting: "Reconnecting…",
  offline: "Offline",
};
/** After this long without the streams, "reconnecting" becomes "offline" (retries go on). */
const OFFLINE_AFTER_MS = 30_000;
const TYPING_IDLE_MS = 4_000;

const transport = createWebSocketTransport({
  url: `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/grpc`,
  // A chat wants to notice a dead connection and come back quickly.
  keepalive: { intervalMs: 15_000, timeoutMs: 5_000 },
  reconnect: { initialDelayMs: 250, maxDelayMs: 4_000 },
});
const client = createClient(ChatService, transport);

const el = {
  joinScreen: byTestId("join-screen"),
  joinForm: byTestId<HTMLFormElement>("join-form"),
  nameInput: byTestId<HTMLInputElement>("name-input"),
  roomInput: byTestId<HTMLInputElement>("room-input"),
  joinButton: byTestId<HTMLButtonElement>("join-button"),
  joinError: byTestId("join-error"),
  chatScreen: byTestId("chat-screen"),
  status: byTestId<HTMLButtonElement>("connection-state"),
  statusDetail: byTestId("connection-detail"),
  roomList: byTestId("room-list"),
  newRoomForm: byTestId<HTMLFormElement>("new-room-form"),
  newRoomInput: byTestId<HTMLInputElement>("new-room-input"),
  chatError: byTestId("chat-error"),
  composer: byTestId<HTMLFormElement>("composer"),
  input: byTestId<HTMLTextAreaElement>("message-input"),
  sendButton: byTestId<HTMLButtonElement>("send-button"),
  counter: byTestId("char-count"),
  fileInput: byTestId<HTMLInputElement>("file-input"),
};

let current: { session: RoomSession; view: RoomView } | undefined;
let myName = "";
const tokens = loadTokens();

// --- Connection state -------------------------------------------------------------

function status(): Status {
  if (!navigator.onLine) return "offline";
  const view = current?.view;
  if (!view) return "connecting";
  if (view.linkState === "live") return transport.state === "open" ? "online" : "reconnecting";
  if (!view.everLive) return "connecting";
  return Date.now() - view.downSince > OFFLINE_AFTER_MS ? "offline" : "reconnecting";
}

let offlineTimer: ReturnType<typeof setTimeout> | undefined;
function renderStatus(): void {
  const s = status();
  el.status.dataset["state"] = s;
  el.status.querySelector(".label")!.textContent = STATUS_LABEL[s];
  el.status.title = s === "online" ? "Connected" : s === "connecting" ? "Connecting" : "Click to retry now";
  // Why it is not online: the browser has no network, or the last failure of the room's streams.
  const why =
    s === "online"
      ? undefined
      : !navigator.onLine
        ? "The browser is offline."
        : current?.view.lastError && describe(current.view.lastError);
  const detail = typeof why === "object" ? why.text : why;
  el.statusDetail.textContent = detail ?? "";
  el.statusDetail.dataset["code"] = typeof why === "object" ? why.code : "";
  el.statusDetail.hidden = detail === undefined;
  clearTimeout(offlineTimer);
  if (s === "reconnecting") offlineTimer = setTimeout(renderStatus, OFFLINE_AFTER_MS);
}
transport.onStateChange(renderStatus);
addEventListener("online", () => {
  current?.session.retryNow();
  renderStatus();
});
addEventListener("offline", renderStatus);
el.status.addEventListener("click", () => current?.session.retryNow());

// --- Errors -------------------------------------------------------------------------

function describe(err: unknown): { text: string; code: string } {
  const e = ConnectError.from(err);
  const code = Code[e.code] ?? String(e.code);
  switch (e.code) {
    case Code.Unavailable:
      // The server's own outage messages (e.g. its Redis is down) say more than "not connected".
      if (e.rawMessage.startsWith("the chat's")) break;
      return { code, text: "Not connected to the server. Try again in a moment." };
    case Code.DeadlineExceeded:
      return { code, text: "The server did not answer in time." };
    case Code.Canceled:
      return { code, text: "Cancelled." };
    case Code.ResourceExhausted:
      // The transport's byte limit, in words a user can act on.
      if (/exceeds the server's limit/.test(e.rawMessage)) return { code, text: "That is too large to send." };
      break;
  }
  const msg = e.rawMessage || "something went wrong";
  return { code, text: msg.charAt(0).toUpperCase() + msg.slice(1) + (/[.!?]$/.test(msg) ? "" : ".") };
}

let errorTimer: ReturnType<typeof setTimeout> | undefined;
function showError(target: HTMLElement, err: unknown): void {
  const { text, code } = describe(err);
  target.textContent = text;
  target.dataset["code"] = code;
  target.hidden = false;
  clearTimeout(errorTimer);
  if (target === el.chatError) errorTimer = setTimeout(() => (target.hidden = true), 8_000);
}

/** A later success takes an old error down. */
function clearError(target: HTMLElement): void {
  target.hidden = true;
  if (target === el.chatError) clearTimeout(errorTimer);
}

// --- Rooms --------------------------------------------------------------------------

async function enterRoom(room: string, name: string): Promise<void> {
  const view = new RoomView(room, name, {
    link: (v) => {
      if (v !== current?.view) return;
      renderStatus();
      if (v.linkState === "live" && el.chatError.dataset["code"] === "Unavailable") clearError(el.chatError);
    },
    token: (v, token) => {
      // Every (re)join's token, not only the first: a reload after a server restart resumes with it.
      tokens[v.room] = token;
      sessionStorage.setItem("chat.tokens", JSON.stringify(tokens));
    },
    activity: (v, kind) => {
      if (v !== current?.view) return;
      if (kind === "message") markReadSoon();
      else void refreshRooms();
    },
    fatal: (v, error) => {
      if (v !== current?.view) return;
      leaveRoom();
      showJoin();
      showError(
        el.joinError,
        new ConnectError(`while you were away: ${error.rawMessage}; pick another name`, error.code),
      );
    },
  });
  const session = await RoomSession.join(client, room, name, tokens[room] ?? "", view);
  leaveRoom();
  current = { session, view };
  myName = name;
  sessionStorage.setItem("chat.last", JSON.stringify({ room, name }));
  localStorage.setItem("chat.name", name);
  view.mount();
  renderStatus();
  void refreshRooms();
}

function leaveRoom(): void {
  current?.session.leave();
  current = undefined;
  uploader.reset();
}

async function switchRoom(room: string): Promise<void> {
  if (!room || room === current?.session.room) return;
  try {
    await enterRoom(room, myName);
    clearError(el.chatError);
    el.input.focus();
  } catch (err) {
    showError(el.chatError, err);
  }
}

let roomsInFlight = false;
async function refreshRooms(): Promise<void> {
  if (roomsInFlight) return;
  roomsInFlight = true;
  try {
    const { rooms } = await client.listRooms({}, { timeoutMs: 5_000 });
    el.roomList.replaceChildren(
      ...rooms.map((r) => {
        const button = h(
          "button",
          {
            type: "button",
            "data-testid": "room-item",
            "data-room": r.name,
            "aria-current": String(r.name === current?.session.room),
          },
          h("span", {}, `# ${r.name}`),
          h("span", { class: "n" }, r.online > 0 ? String(r.online) : ""),
        );
        button.addEventListener("click", () => void switchRoom(r.name));
        return h("li", {}, button);
      }),
    );
    document.getElementById("room-suggestions")?.replaceChildren(...rooms.map((r) => h("option", { value: r.name })));
  } catch {
    // The list is a convenience; the connection pill already tells about outages.
  } finally {
    roomsInFlight = false;
  }
}
setInterval(() => {
  if (current?.view.linkState === "live") void refreshRooms();
}, 15_000);

el.newRoomForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const room = el.newRoomInput.value.trim();
  el.newRoomInput.value = "";
  void switchRoom(room);
});

// --- Read receipts ------------------------------------------------------------------

let readTimer: ReturnType<typeof setTimeout> | undefined;
function markReadSoon(): void {
  clearTimeout(readTimer);
  readTimer = setTimeout(() => {
    if (document.visibilityState !== "visible" || !current) return;
    const newest = current.view.messages.newestFromOthers();
    if (newest) current.session.markRead(newest.id);
  }, 300);
}
document.addEventListener("visibilitychange", markReadSoon);

// --- Composer -----------------------------------------------------------------------

let typingIdle: ReturnType<typeof setTimeout> | undefined;
function renderCounter(): void {
  const n = el.input.value.length;
  el.counter.textContent = n > LIMITS.maxTextLength - 200 ? `${n} / ${LIMITS.maxTextLength}` : "";
  el.counter.classList.toggle("over", n > LIMITS.maxTextLength);
  // Over the limit the server would refuse it: Send stays off until the text fits.
  el.sendButton.disabled = n > LIMITS.maxTextLength;
  el.sendButton.title = n > LIMITS.maxTextLength ? `Messages are limited to ${LIMITS.maxTextLength} characters` : "";
  el.input.style.height = "auto";
  el.input.style.height = `${Math.min(el.input.scrollHeight, 160)}px`;
}

el.input.addEventListener("input", () => {
  renderCounter();
  const typing = el.input.value.trim().length > 0;
  current?.session.setTyping(typing);
  clearTimeout(typingIdle);
  if (typing) typingIdle = setTimeout(() => current?.session.setTyping(false), TYPING_IDLE_MS);
});

el.input.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    el.composer.requestSubmit();
  }
});

let sending = false;
el.composer.addEventListener("submit", (e) => {
  e.preventDefault();
  if (!current || sending) return;
  const { session, view } = current;
  const text = el.input.value;
  const length = text.trim().length;
  if (length > LIMITS.maxTextLength) {
    // The same words as the server's check; nothing is sent.
    showError(
      el.chatError,
      new ConnectError(
        `message is ${length} characters long; the limit is ${LIMITS.maxTextLength}`,
        Code.InvalidArgument,
      ),
    );
    return;
  }
  sending = true;
  clearTimeout(typingIdle);
  session.send(text).then(
    (message) => {
      sending = false;
      if (message) view.message(message);
      if (el.input.value === text) el.input.value = "";
      clearError(el.chatError);
      renderCounter();
    },
    (err: unknown) => {
      sending = false;
      showError(el.chatError, err);
    },
  );
});

// --- Uploads ------------------------------------------------------------------------

const uploader = new Uploader({
  box: byTestId("upload-status"),
  name: byTestId("upload-name"),
  bar: byTestId<HTMLProgressElement>("upload-progress"),
  percent: byTestId("upload-percent"),
});

el.fileInput.addEventListener("change", () => {
  const file = el.fileInput.files?.[0];
  el.fileInput.value = ""; // the same file may be picked again
  if (!file || !current) return;
  const { session, view } = current;
  uploader
    .run(file, (progress) => session.upload(file, progress))
    .then(
      (res) => {
        if (res.message) view.message(res.message);
        clearError(el.chatError);
      },
      (err: unknown) => showError(el.chatError, err),
    );
});

// --- Join ---------------------------------------------------------------------------

function showJoin(): void {
  el.chatScreen.hidden = true;
  el.joinScreen.hidden = false;
  el.nameInput.focus();
}

function showChat(): void {
  el.joinScreen.hidden = true;
  el.chatScreen.hidden = false;
  el.input.focus();
}

el.joinForm.addEventListener("submit", (e) => {
  e.preventDefault();
  el.joinButton.disabled = true;
  el.joinError.hidden = true;
  enterRoom(el.roomInput.value.trim(), el.nameInput.value).then(
    () => {
      el.joinButton.disabled = false;
      clearError(el.chatError);
      showChat();
    },
    (err: unknown) => {
      el.joinButton.disabled = false;
      showError(el.joinError, err);
    },
  );
});

function loadTokens(): Record<string, string> {
  try {
    const parsed: unknown = JSON.parse(sessionStorage.getItem("chat.tokens") ?? "{}");
    return parsed && typeof parsed === "object" ? (parsed as Record<string, string>) : {};
  } catch {
    return {};
  }
}

// A reload resumes the room and name of this tab (the token keeps the name reserved).
el.nameInput.value = localStorage.getItem("chat.name") ?? "";
const last = ((): { room?: unknown; name?: unknown } => {
  try {
    return JSON.parse(sessionStorage.getItem("chat.last") ?? "{}") as { room?: unknown; name?: unknown };
  } catch {
    return {};
  }
})();
if (typeof last.room === "string" && typeof last.name === "string") {
  const { room, name } = last;
  el.roomInput.value = room;
  el.nameInput.value = name;
  enterRoom(room, name).then(showChat, (err: unknown) => {
    // Say why the page is not back in the room (e.g. the name went to someone else meanwhile).
    showJoin();
    showError(el.joinError, err);
    void refreshRooms();
  });
} else {
  showJoin();
  void refreshRooms();
}

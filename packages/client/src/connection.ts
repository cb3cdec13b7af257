import type { ConnectError } from "@connectrpc/connect";
import {
  CloseCode,
  SUBPROTOCOL,
  Session,
  SessionClosedError,
  type KeepaliveOptions,
  type Settings,
  type TraceSink,
} from "@grpc-ws/wire";
import { unref } from "@grpc-ws/wire/internal";
import { offeredProtocols, refusalFromClose, watchUpgradeResponse, type TokenSource } from "./credentials.js";
import type { FlushScheduler } from "./schedule.js";
import { keepsSentBytes, messageBytes, openSocket, type Socket, type WebSocketConstructor } from "./websocket.js";

export interface ConnectionConfig {
  url: string;
  webSocket: WebSocketConstructor;
  settings: Partial<Settings>;
  keepalive: KeepaliveOptions | undefined;
  connectTimeoutMs: number;
  /** How long a closing socket may take for the close handshake before it is cut. */
  closeHandshakeMs: number;
  schedule: FlushScheduler;
  trace: TraceSink | undefined;
  /** Offered as `grpc-ws.bearer.<base64url>`; a function is called once per attempt. */
  token?: TokenSource;
  /** Upgrade request headers (Node's `ws` only). */
  headers?: Readonly<Record<string, string>>;
}

export interface ConnectionListener {
  /** The server's SETTINGS arrived: streams may be opened on `session`. */
  onOpen(connection: Connection, session: Session): void;
  /** The server sent GOAWAY: no new streams on this connection. */
  onGoAway(connection: Connection): void;
  /** The connection ended (or never opened); every stream on it was reset first. Called once. */
  onClose(connection: Connection, error: SessionClosedError): void;
}

/** Where one connection stands; only `handshake` and `open` have a session. */
type Phase =
  | { readonly kind: "connecting" } // the WebSocket is opening
  | { readonly kind: "handshake"; readonly session: Session } // waiting for the server's SETTINGS
  | { readonly kind: "open"; readonly session: Session }
  | { readonly kind: "closed" };

// Socket backpressure: above HIGH bytes buffered the session stops framing DATA until below LOW.
const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 256 * 1024;
const DRAIN_POLL_MS = 2;

/** The TCP socket under `ws` (from its 'upgrade' response), to let an idle connection not hold a Node process. */
type Referable = { ref(): unknown; unref(): unknown };

/** One WebSocket and the wire Session on it. */
export class Connection {
  private phase: Phase = { kind: "connecting" };
  private opened = false;
  /** Set when the server refused the connection (or the token function failed): why, with the server's code. */
  refusal: ConnectError | undefined;
  private socket: Socket | undefined;
  private socketClosed = false;
  private tcp: Referable | undefined;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private drainTimer: ReturnType<typeof setTimeout> | undefined;
  private terminateTimer: ReturnType<typeof setTimeout> | undefined;
  private socketError = "";
  private closeWaiters: Array<() => void> = [];

  constructor(
    private readonly config: ConnectionConfig,
    private readonly listener: ConnectionListener,
  ) {
    this.connectTimer = setTimeout(() => {
      this.fail(`cannot connect to ${config.url}: no answer within ${config.connectTimeoutMs} ms`, CloseCode.NORMAL);
    }, config.connectTimeoutMs);
    unref(this.connectTimer);
    // The token (when a function) is fetched per attempt, within the connect timeout.
    const protocols = offeredProtocols(config.token);
    if (Array.isArray(protocols)) {
      this.open(protocols);
      return;
    }
    this.socketClosed = true;
    protocols.then(
      (p) => {
        if (this.phase.kind === "closed") return;
        this.socketClosed = false;
        this.open(p);
      },
      (error: ConnectError) => {
        this.refusal = error;
        this.fail(`cannot connect to ${config.url}: ${error.rawMessage}`, 0);
      },
    );
  }

  private open(protocols: string[]): void {
    const config = this.config;
    let socket: Socket;
    try {
      socket = openSocket(config.webSocket, config.url, protocols, config.headers);
    } catch (error) {
      // An invalid URL: report it like any failed attempt, but not from inside the constructor.
      this.socketClosed = true;
      queueMicrotask(() => this.fail(`cannot open WebSocket to ${config.url}: ${describe(error)}`, 0));
      return;
    }
    this.socket = socket;
    watchUpgradeResponse(socket, (refusal, status) => {
      this.refusal = refusal;
      this.socketError = refusal ? `${refusal.rawMessage} (HTTP ${status})` : `Unexpected server response: ${status}`;
    });
    socket.onopen = () => this.onSocketOpen(socket);
    socket.onmessage = (event) => {
      const phase = this.phase;
      if (phase.kind !== "handshake" && phase.kind !== "open") return;
      const bytes = messageBytes(event.data);
      if (bytes) phase.session.receive(bytes);
      else phase.session.receiveText();
    };
    // Kept for the socket's lifetime: `ws` throws on an 'error' event nobody listens to.
    socket.onerror = (event) => {
      const error = event?.error ?? event?.message;
      if (error !== undefined && !this.socketError) this.socketError = describe(error);
    };
    socket.onclose = (event) => {
      this.socketClosed = true;
      clearTimeout(this.terminateTimer);
      // A browser learns why it was refused only from the close code (PROTOCOL.md 1.3).
      this.refusal ??= refusalFromClose(event.code, event.reason);
      const detail = this.socketError || `close code ${event.code}${event.reason ? `: ${event.reason}` : ""}`;
      const what = this.phase.kind === "open" ? "connection lost" : `cannot connect to ${this.config.url}`;
      this.fail(`${what} (${detail})`, 0);
      this.resolveCloseWaiters();
    };
    const events = socket as Partial<{
      on(event: "upgrade", listener: (response: { socket?: Referable }) => void): void;
    }>;
    if (typeof events.on === "function") events.on("upgrade", (response) => (this.tcp = response.socket));
  }

  /** The session, once the connection is open (and until it closes). */
  get session(): Session | undefined {
    return this.phase.kind === "open" ? this.phase.session : undefined;
  }

  /** SETTINGS arrived at some point (the connection worked). */
  get wasOpen(): boolean {
    return this.opened;
  }

  /**
   * Lets the socket keep a Node process alive only while calls are open (or a connection is being
   * made for one): an idle client must not stop a script from exiting. A no-op in browsers.
   */
  hold(busy: boolean): void {
    if (busy) this.tcp?.ref();
    else this.tcp?.unref();
  }

  /** Ends the connection: open streams fail with `message`. Resolves once the socket closed (bounded). */
  close(message: string): Promise<void> {
    this.fail(message, CloseCode.NORMAL);
    if (this.socketClosed) return Promise.resolve();
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  private onSocketOpen(socket: Socket): void {
    if (this.phase.kind !== "connecting") return;
    if (socket.protocol !== SUBPROTOCOL) {
      this.fail(
        `server did not accept subprotocol ${SUBPROTOCOL} (got ${JSON.stringify(socket.protocol)})`,
        CloseCode.PROTOCOL_ERROR,
      );
      return;
    }
    const session: Session = new Session(
      {
        send: (message, release) => this.send(socket, message, release),
        close: (code, reason) => this.closeSocket(code, reason),
      },
      {
        role: "client",
        settings: this.config.settings,
        writer: { sinkCopies: !keepsSentBytes(socket), schedule: this.config.schedule },
        keepalive: this.config.keepalive,
        trace: this.config.trace,
        onSettings: () => {
          clearTimeout(this.connectTimer);
          this.opened = true;
          this.phase = { kind: "open", session };
          this.listener.onOpen(this, session);
        },
        onGoAway: () => this.listener.onGoAway(this),
        onClose: (error) => this.finish(error),
      },
    );
    this.phase = { kind: "handshake", session };
  }

  private send(socket: Socket, message: Uint8Array, release: () => void): boolean {
    try {
      // `ws` releases the bytes once written; a browser copies them, so the writer ignores `release`.
      socket.send(message, release);
    } catch (error) {
      release();
      queueMicrotask(() => this.fail(`send failed: ${describe(error)}`, CloseCode.INTERNAL_ERROR));
      return false;
    }
    if (socket.bufferedAmount < HIGH_WATER) return true;
    this.pollDrain(socket);
    return false;
  }

  // Browsers have no drain event: poll bufferedAmount while the socket is saturated.
  private pollDrain(socket: Socket): void {
    if (this.drainTimer !== undefined) return;
    const check = () => {
      this.drainTimer = undefined;
      const phase = this.phase;
      if (phase.kind !== "open" && phase.kind !== "handshake") return;
      if (socket.bufferedAmount <= LOW_WATER) phase.session.drained();
      else this.drainTimer = setTimeout(check, DRAIN_POLL_MS);
    };
    this.drainTimer = setTimeout(check, DRAIN_POLL_MS);
  }

  private fail(message: string, closeCode: number): void {
    const phase = this.phase;
    if (phase.kind === "closed") return;
    const error = new SessionClosedError(message);
    if (phase.kind === "connecting") {
      if (closeCode !== 0) this.closeSocket(closeCode, message);
      this.finish(error);
    } else {
      phase.session.close(error, closeCode); // calls finish() through onClose
    }
  }

  private finish(error: SessionClosedError): void {
    if (this.phase.kind === "closed") return;
    this.phase = { kind: "closed" };
    clearTimeout(this.connectTimer);
    clearTimeout(this.drainTimer);
    this.config.trace?.(`connection to ${this.config.url} closed: ${error.message}`);
    this.listener.onClose(this, error);
  }

  private closeSocket(code: number, reason: string): void {
    const socket = this.socket;
    if (!socket || this.socketClosed || this.terminateTimer !== undefined) return;
    try {
      socket.close(code, reason);
    } catch {
      // Browsers accept only 1000 and 3000-4999 from scripts.
      try {
        socket.close(CloseCode.NORMAL, reason);
      } catch {
        socket.close();
      }
    }
    this.terminateTimer = setTimeout(() => {
      socket.terminate?.();
      this.socketClosed = true;
      this.resolveCloseWaiters();
    }, this.config.closeHandshakeMs);
    unref(this.terminateTimer);
  }

  private resolveCloseWaiters(): void {
    const waiters = this.closeWaiters;
    this.closeWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

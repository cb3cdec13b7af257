import type { ConnectError } from "@connectrpc/connect";
import { CloseCode, SUBPROTOCOL, Session, SessionClosedError, type KeepaliveOptions, type Settings, unref } from "@grpc-ws/wire";
import { offeredProtocols, refusalFromClose, watchUpgradeResponse, type TokenSource } from "./credentials.js";
import type { FlushScheduler } from "./schedule.js";
import { keepsSentBytes, messageBytes, openSocket, type Socket, type WebSocketConstructor } from "./websocket.js";

export interface ConnectionConfig {
  url: string;
  webSocket: WebSocketConstructor;
  settings: Partial<Settings>;
  keepalive: KeepaliveOptions | undefined;
  connectTimeoutMs: number;
  schedule: FlushScheduler;
  /** Offered as `grpc-ws.bearer.<base64url>`; a function is called once per attempt. */
  token?: TokenSource;
  /** Upgrade request headers (Node's `ws` only). */
  headers?: Readonly<Record<string, string>>;
}

export interface ConnectionListener {
  /** The server's SETTINGS arrived: streams may be opened. */
  onOpen(connection: Connection): void;
  /** The server sent GOAWAY: no new streams on this connection. */
  onGoAway(connection: Connection): void;
  /** The connection ended (or never opened); every stream on it was reset first. Called once. */
  onClose(connection: Connection, error: SessionClosedError): void;
}

// Socket backpressure: above HIGH bytes buffered the session stops framing DATA until below LOW.
const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 256 * 1024;
const DRAIN_POLL_MS = 2;
// After close(), a peer that does not finish the closing handshake is cut off after this long.
const TERMINATE_AFTER_MS = 1000;

/** One WebSocket and the wire Session on it. */
export class Connection {
  session: Session | undefined;
  /** SETTINGS arrived. */
  opened = false;
  /** The connection ended; `session` (if any) is closed. */
  closed = false;
  /** Set when the server refused the connection (or the token function failed): why, with the server's code. */
  refusal: ConnectError | undefined;
  private socket: Socket | undefined;
  private socketClosed = false;
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
        if (this.closed) return;
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
    socket.onopen = () => this.onSocketOpen();
    socket.onmessage = (event) => {
      const bytes = messageBytes(event.data);
      if (bytes) this.session?.receive(bytes);
      else this.session?.receiveText();
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
      const what = this.opened ? "connection lost" : `cannot connect to ${this.config.url}`;
      this.fail(`${what} (${detail})`, 0);
      this.resolveCloseWaiters();
    };
  }

  /** Ends the connection: open streams fail with `message`. Resolves once the socket closed (bounded). */
  close(message: string): Promise<void> {
    this.fail(message, CloseCode.NORMAL);
    if (this.socketClosed) return Promise.resolve();
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  private onSocketOpen(): void {
    if (this.closed) return;
    const socket = this.socket!;
    if (socket.protocol !== SUBPROTOCOL) {
      this.fail(`server did not accept subprotocol ${SUBPROTOCOL} (got ${JSON.stringify(socket.protocol)})`, CloseCode.PROTOCOL_ERROR);
      return;
    }
    this.session = new Session(
      {
        send: (message, release) => this.send(message, release),
        close: (code, reason) => this.closeSocket(code, reason),
      },
      {
        role: "client",
        settings: this.config.settings,
        writer: { sinkCopies: !keepsSentBytes(socket), schedule: this.config.schedule },
        keepalive: this.config.keepalive,
        onSettings: () => {
          clearTimeout(this.connectTimer);
          this.opened = true;
          this.listener.onOpen(this);
        },
        onGoAway: () => this.listener.onGoAway(this),
        onClose: (error) => this.finish(error),
      },
    );
  }

  private send(message: Uint8Array, release: () => void): boolean {
    const socket = this.socket!;
    try {
      // `ws` releases the bytes once written; a browser copies them, so the writer ignores `release`.
      socket.send(message, release);
    } catch (error) {
      release();
      queueMicrotask(() => this.fail(`send failed: ${describe(error)}`, CloseCode.INTERNAL_ERROR));
      return false;
    }
    if (socket.bufferedAmount < HIGH_WATER) return true;
    this.pollDrain();
    return false;
  }

  // Browsers have no drain event: poll bufferedAmount while the socket is saturated.
  private pollDrain(): void {
    if (this.drainTimer !== undefined) return;
    const check = () => {
      this.drainTimer = undefined;
      if (this.closed) return;
      if (this.socket!.bufferedAmount <= LOW_WATER) this.session?.drained();
      else this.drainTimer = setTimeout(check, DRAIN_POLL_MS);
    };
    this.drainTimer = setTimeout(check, DRAIN_POLL_MS);
  }

  private fail(message: string, closeCode: number): void {
    if (this.closed) return;
    const error = new SessionClosedError(message);
    if (this.session) {
      this.session.close(error, closeCode); // calls finish() through onClose
    } else {
      if (closeCode !== 0) this.closeSocket(closeCode, message);
      this.finish(error);
    }
  }

  private finish(error: SessionClosedError): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.connectTimer);
    clearTimeout(this.drainTimer);
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
    }, TERMINATE_AFTER_MS);
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


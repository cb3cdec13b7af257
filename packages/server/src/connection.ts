import type { IncomingMessage } from "node:http";
import type { TLSSocket } from "node:tls";
import type { ContextValues } from "@connectrpc/connect";
import {
  CloseCode,
  ErrorCode,
  Session,
  SessionClosedError,
  Status,
  type Metadata,
  type SessionOptions,
  type Stream,
} from "@grpc-ws/wire";
import { WebSocket, type RawData } from "ws";
import { callContextValues, type ConnectionInfo, type ContextValuesHook } from "./access/connection-info.js";
import { watchExpiry } from "./access/expiry.js";
import { armConnectionAge, type ResolvedConnectionAge } from "./connection-age.js";
import { reportCallEnd, startCall, type CallSource, type CallTargets } from "./dispatch.js";
import type { CallEndInfo } from "./options.js";
import type { BridgeRouter } from "./router.js";
import { ServerCall } from "./server-call.js";
import type { BridgeTelemetry } from "./telemetry/bridge-telemetry.js";
import type { Forwarder } from "./upstream/index.js";

/** What every connection of one bridge shares. */
export interface ConnectionContext extends CallTargets {
  readonly router: BridgeRouter;
  readonly forwarder: Forwarder | undefined;
  readonly sessionOptions: Omit<SessionOptions, "role" | "onStream" | "onClose">;
  readonly socketHighWaterMark: number;
  /** Close a connection whose SETTINGS frame has not arrived this long after the upgrade; 0: never. */
  readonly settingsTimeoutMs: number;
  readonly contextValues: ContextValuesHook | undefined;
  /** How long calls may finish after GOAWAY before they are cancelled. */
  readonly drainTimeoutMs: number;
  readonly onCallEnd: ((info: CallEndInfo) => void) | undefined;
  readonly connectionAge: ResolvedConnectionAge | undefined;
  /** The connection's socket has closed. */
  connectionClosed(connection: Connection, reason: string): void;
}

const BINARY = { binary: true } as const;

/** One WebSocket: its wire session, its calls, and the socket's backpressure. */
export class Connection {
  readonly session: Session;
  readonly calls = new Set<ServerCall>();
  readonly origin: string;
  readonly closed: Promise<void>;
  /** Calls served so far. */
  callCount = 0;
  private socketBlocked = false;
  private socketError: Error | undefined;
  private settingsTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly telemetry: BridgeTelemetry | undefined;
  private disarmAge: (() => void) | undefined;
  private closeReason = "";
  private readonly stopExpiry: () => void;
  private readonly onFlushed = (error?: Error | null): void => {
    // Still above the mark: every message sent since carries this callback, so a later one retries.
    if (!this.socketBlocked || error || this.ws.bufferedAmount > this.context.socketHighWaterMark) return;
    this.socketBlocked = false;
    this.session.drained();
    if (!this.socketBlocked && this.ws.isPaused) this.ws.resume();
  };

  /** What every call of this connection knows of it: one object for all of them. */
  private readonly callSource: CallSource;

  constructor(
    readonly ws: WebSocket,
    private readonly request: IncomingMessage,
    /** Who authenticated the connection, and its upgrade request. */
    readonly info: ConnectionInfo,
    private readonly context: ConnectionContext,
  ) {
    this.origin = requestOrigin(request);
    this.telemetry = context.telemetry;
    const session = (): Session => this.session;
    this.callSource = {
      origin: this.origin,
      get peerMaxMessageSize() {
        return session().peer?.maxMessageSize ?? 0;
      },
      connection: info,
      contextValues: () => this.contextValues(),
      userContextValues: context.contextValues !== undefined,
    };
    ws.binaryType = "nodebuffer";
    this.session = new Session(
      {
        send: (message, release) => this.send(message, release),
        close: (code, reason) => {
          try {
            ws.close(code, reason);
          } catch {
            ws.terminate();
          }
        },
      },
      {
        ...context.sessionOptions,
        role: "server",
        onStream: (stream, path, headers) => this.onStream(stream, path, headers),
        onSettings: () => clearTimeout(this.settingsTimer),
        onClose: (error) => this.sessionClosed(error),
      },
    );
    if (context.connectionAge) {
      this.disarmAge = armConnectionAge(
        context.connectionAge,
        () => this.drain("max connection age"),
        () => this.shutdown("max connection age: grace period over"),
      );
    }
    if (context.settingsTimeoutMs > 0) {
      this.settingsTimer = setTimeout(() => this.settingsTimedOut(), context.settingsTimeoutMs);
      this.settingsTimer.unref();
    }
    ws.on("message", (data: RawData, isBinary: boolean) => {
      if (!isBinary) return this.session.receiveText();
      const bytes = socketBytes(data);
      this.telemetry?.received(bytes.length);
      this.session.receive(bytes);
      // A peer that does not read its socket (yet asks for PING acks, refused streams, errors)
      // must not make the socket's buffer grow without bound: read no more until it drains.
      if (this.socketBlocked && !ws.isPaused) ws.pause();
    });
    ws.on("error", (error: Error) => {
      this.socketError = error;
    });
    this.stopExpiry = watchExpiry(info.expiresAt, this.session, context.drainTimeoutMs, (message) =>
      this.shutdown(message),
    );
    this.closed = new Promise((resolve) => {
      ws.on("close", (code: number, reason: Buffer) => {
        clearTimeout(this.settingsTimer);
        this.disarmAge?.();
        this.stopExpiry();
        const why = this.socketError ? `the WebSocket failed: ${this.socketError.message}` : "the WebSocket closed";
        const closeReason =
          this.closeReason || `${why} (close code ${code}${reason.length > 0 ? `: ${reason.toString()}` : ""})`;
        this.session.close(new SessionClosedError(why, ErrorCode.CANCEL, true), 0);
        context.connectionClosed(this, closeReason);
        resolve();
      });
    });
  }

  /** Context values of one in-process call: the user's, plus the connection's info under `connectionKey`. */
  private contextValues(): ContextValues {
    return callContextValues(this.context.contextValues, this.request, this.info);
  }

  /** GOAWAY: the client opens no more streams here; open calls go on. */
  goAway(message = "server shutting down"): void {
    if (this.session.draining || this.session.closed) return;
    this.session.goAway(ErrorCode.NO_ERROR, message);
    this.telemetry?.goAwaySent(ErrorCode.NO_ERROR);
  }

  /** GOAWAY, then close the socket once the open calls have ended. */
  private drain(message: string): void {
    this.goAway(message);
    void this.session.whenIdle().then(() => {
      if (!this.session.closed) this.shutdown(message);
    });
  }

  // Why the session ended, for the metrics: the wire says it only in the error.
  private sessionClosed(error: SessionClosedError): void {
    if (!this.closeReason) this.closeReason = error.message;
    if (error.remote) return;
    if (error.message.startsWith("keepalive timeout")) this.telemetry?.keepaliveTimedOut();
    else if (error.message.startsWith("protocol error")) this.telemetry?.goAwaySent(error.code);
  }

  /** Cancels every call (UNAVAILABLE, signals abort) and closes the socket. */
  shutdown(message: string): void {
    this.closeReason ||= message;
    for (const call of [...this.calls]) call.cancel(Status.UNAVAILABLE, message);
    this.session.close(new SessionClosedError(message), CloseCode.GOING_AWAY);
  }

  // An upgraded socket that never speaks would hold its slot forever when keepalive is off.
  private settingsTimedOut(): void {
    if (this.session.peer || this.session.closed) return;
    const message = `no SETTINGS frame within ${this.context.settingsTimeoutMs} ms of the upgrade`;
    this.session.goAway(ErrorCode.SETTINGS_TIMEOUT, message);
    this.telemetry?.goAwaySent(ErrorCode.SETTINGS_TIMEOUT);
    this.session.close(new SessionClosedError(message, ErrorCode.SETTINGS_TIMEOUT), CloseCode.PROTOCOL_ERROR);
  }

  private readonly callEnded = (call: ServerCall, code: Status, message: string, error: unknown): void => {
    this.calls.delete(call);
    reportCallEnd(this.context.onCallEnd, call, code, message, error, this.info);
  };

  // Returning false pauses the session until the socket has written what it holds.
  // `release` returns the bytes to the session's writer once ws has written them out.
  private send(message: Uint8Array, release: () => void): boolean {
    const ws = this.ws;
    if (ws.readyState !== WebSocket.OPEN) {
      release();
      return true;
    }
    const full = ws.bufferedAmount + message.length > this.context.socketHighWaterMark;
    if (this.telemetry) {
      this.telemetry.sent(message.length);
      if (full && !this.socketBlocked) this.telemetry.stalled();
    }
    if (full) this.socketBlocked = true;
    // While blocked, every message checks on completion whether the socket is back under the mark.
    const blocked = this.socketBlocked;
    ws.send(message, BINARY, (error) => {
      release();
      if (blocked) this.onFlushed(error);
    });
    return !full;
  }

  private onStream(stream: Stream, path: string, headers: Metadata): void {
    startCall(stream, path, headers, this.callSource, this.context, this.callEnded, this.trackCall);
  }

  private readonly trackCall = (call: ServerCall): void => {
    this.calls.add(call);
    this.callCount++;
  };
}

/** The bytes of one socket message, as a plain `Uint8Array` view (no copy of a single Buffer). Both front ends. */
export function socketBytes(data: RawData): Uint8Array {
  const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}

/** "http://host" or "https://host" of an upgrade request: a call's `url` is this plus its path. Both front ends. */
export function requestOrigin(request: IncomingMessage): string {
  const encrypted = (request.socket as Partial<TLSSocket>).encrypted === true;
  return `${encrypted ? "https" : "http"}://${request.headers.host ?? "localhost"}`;
}

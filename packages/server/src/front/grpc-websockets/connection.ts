import type { IncomingMessage } from "node:http";
import type { ContextValues } from "@connectrpc/connect";
import {
  GrpcWebSocketsError,
  Status,
  createTrailers,
  decodeHeaderBlock,
  encodeMetadataFrame,
  type KeepaliveOptions,
  type Metadata,
  type Settings,
} from "@grpc-ws/wire";
import { Keepalive } from "@grpc-ws/wire/internal";
import type { RawData, WebSocket } from "ws";
import { callContextValues, type ConnectionInfo, type ContextValuesHook } from "../../access/connection-info.js";
import { requestOrigin, socketBytes } from "../../connection.js";
import { reportCallEnd, startCall, type CallSource, type CallTargets } from "../../dispatch.js";
import type { CallEndInfo } from "../../options.js";
import type { ServerCall } from "../../server-call.js";
import { WebSocketCallStream } from "./call-stream.js";

/** What every `grpc-websockets` socket of one bridge shares. */
export interface GrpcWebSocketsContext extends CallTargets {
  readonly settings: Settings;
  readonly writeHighWaterMark: number;
  /** Close a socket whose header block has not arrived this long after the upgrade; 0: never. */
  readonly headerTimeoutMs: number;
  /**
   * The bridge's `keepalive`, as WebSocket pings: these clients send no PING frames of their own,
   * and browsers answer a ping with a pong by themselves. Undefined: off.
   */
  readonly keepalive: KeepaliveOptions | undefined;
  readonly contextValues: ContextValuesHook | undefined;
  readonly onCallEnd: ((info: CallEndInfo) => void) | undefined;
  /** The socket has closed; `reason` says how (for `onConnectionClose`). */
  compatClosed(connection: GrpcWebSocketsConnection, reason: string): void;
}

// Request headers of the gRPC-Web transport itself, not call metadata.
const TRANSPORT_HEADERS: ReadonlySet<string> = new Set(["content-type", "x-grpc-web"]);
const CONTENT_TYPES: ReadonlySet<string> = new Set([
  "application/grpc-web",
  "application/grpc-web+proto",
  "application/grpc",
  "application/grpc+proto",
]);
const PROTOCOL_ERROR = 1002;

/**
 * One `grpc-websockets` socket, which carries exactly one call to `path` (the upgrade URL's path).
 * Its first message is the header block; then the call runs through the same core as a grpc-ws
 * v1 stream (`startCall`), on a `WebSocketCallStream`.
 */
export class GrpcWebSocketsConnection implements CallSource {
  readonly origin: string;
  readonly closed: Promise<void>;
  private stream: WebSocketCallStream | undefined;
  private call: ServerCall | undefined;
  private headerTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly keepalive: Keepalive | undefined;

  constructor(
    readonly ws: WebSocket,
    private readonly request: IncomingMessage,
    private readonly path: string,
    /** Who the socket is (access control: origin policy and `authenticate` ran on its upgrade). */
    readonly connection: ConnectionInfo,
    private readonly context: GrpcWebSocketsContext,
  ) {
    this.origin = requestOrigin(request);
    ws.binaryType = "nodebuffer";
    if (context.headerTimeoutMs > 0) {
      this.headerTimer = setTimeout(() => ws.close(PROTOCOL_ERROR, "no header block"), context.headerTimeoutMs);
      this.headerTimer.unref();
    }
    // A dead peer (no pong, nothing else either) is dropped; its call ends as a client cancel.
    const keepalive = context.keepalive
      ? new Keepalive(
          context.keepalive,
          () => ws.ping(),
          () => ws.terminate(),
        )
      : undefined;
    this.keepalive = keepalive;
    if (keepalive)
      ws.on("pong", () => {
        keepalive.received();
        keepalive.acked();
      });
    ws.on("message", (data: RawData, isBinary: boolean) => {
      keepalive?.received();
      this.onMessage(socketBytes(data), isBinary);
    });
    ws.on("error", () => undefined);
    this.closed = new Promise((resolve) => {
      ws.on("close", (code: number, reason: Buffer) => {
        clearTimeout(this.headerTimer);
        this.keepalive?.stop();
        this.stream?.socketClosed("the client closed the WebSocket");
        context.compatClosed(
          this,
          `the WebSocket closed (close code ${code}${reason.length > 0 ? `: ${reason.toString()}` : ""})`,
        );
        resolve();
      });
    });
  }

  /** The client's largest accepted message: these clients declare none, so the bridge's own. */
  get peerMaxMessageSize(): number {
    return this.context.settings.maxMessageSize;
  }

  get userContextValues(): boolean {
    return this.context.contextValues !== undefined;
  }

  contextValues(): ContextValues {
    return callContextValues(this.context.contextValues, this.request, this.connection);
  }

  /** Calls served on the socket: its one call, once its header block has arrived. */
  get callCount(): number {
    return this.call ? 1 : 0;
  }

  /** True while the call is running (for graceful shutdown). */
  get busy(): boolean {
    return this.call !== undefined && !this.call.ended;
  }

  /** Ends the call for the client with `message` (UNAVAILABLE, handler aborted) and closes the socket. */
  shutdown(message: string): void {
    if (this.call) this.call.cancel(Status.UNAVAILABLE, message);
    else this.ws.close(1001, message);
  }

  private readonly callEnded = (call: ServerCall, code: Status, message: string, error: unknown): void => {
    reportCallEnd(this.context.onCallEnd, call, code, message, error, this.connection);
  };

  private onMessage(data: Uint8Array, isBinary: boolean): void {
    if (this.stream) {
      return isBinary ? this.stream.receive(data) : this.stream.receiveText();
    }
    clearTimeout(this.headerTimer);
    let headers: Metadata;
    try {
      headers = this.readHeaderBlock(data, isBinary);
    } catch (e) {
      const status = e instanceof HeaderBlockLimit ? Status.RESOURCE_EXHAUSTED : Status.INTERNAL;
      // No call exists yet: answer trailers-only with the status, then close cleanly.
      this.ws.send(encodeMetadataFrame(createTrailers(status, `grpc-websockets: ${(e as Error).message}`)));
      this.ws.close(1000);
      return;
    }
    const { settings, writeHighWaterMark } = this.context;
    this.stream = new WebSocketCallStream(this.ws, {
      maxMessageSize: settings.maxMessageSize,
      readHighWaterMark: settings.initialStreamWindow,
      writeHighWaterMark,
    });
    startCall(this.stream, this.path, headers, this, this.context, this.callEnded, (call) => (this.call = call));
  }

  private readHeaderBlock(data: Uint8Array, isBinary: boolean): Metadata {
    const limit = this.context.settings.maxMetadataSize;
    if (data.length > limit)
      throw new HeaderBlockLimit(`header block of ${data.length} bytes exceeds the limit of ${limit} bytes`);
    if (!isBinary) throw new GrpcWebSocketsError("the header block must be a binary message");
    const out: Metadata = [];
    for (const entry of decodeHeaderBlock(data)) {
      const [name, value] = entry;
      if (name === "content-type" && !CONTENT_TYPES.has(String(value).split(";")[0]!.trim().toLowerCase())) {
        throw new GrpcWebSocketsError(
          `content-type ${JSON.stringify(value)} is not supported (application/grpc-web+proto only)`,
        );
      }
      if (!TRANSPORT_HEADERS.has(name)) out.push(entry);
    }
    return out;
  }
}

class HeaderBlockLimit extends Error {}

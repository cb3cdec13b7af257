import { createServer, type IncomingMessage, type Server as HttpServer } from "node:http";
import type { Server as HttpsServer } from "node:https";
import type { Duplex } from "node:stream";
import { GRPC_WEBSOCKETS, SUBPROTOCOL, type Session, type Settings } from "@grpc-ws/wire";
import { CLOSE_HANDSHAKE_MS } from "@grpc-ws/wire/internal";
import { WebSocketServer, type WebSocket } from "ws";
import { Connection, type ConnectionContext } from "./connection.js";
import type { CompressionOptions } from "./dispatch.js";
import { GrpcWebSocketsConnection, type GrpcWebSocketsContext } from "./front/grpc-websockets/connection.js";
import { checkDrainTimeout, resolveBridgeOptions, type CallEndInfo, type ResolvedBridgeOptions, type WebSocketBridgeOptions } from "./options.js";
import { BridgeRouter } from "./router.js";
import { createUpstream, type Forwarder } from "./upstream/index.js";

export interface AttachOptions {
  /** Only upgrade requests for this path (query string ignored) are taken; others are left to other listeners. Default: every upgrade request. */
  path?: string;
}

export interface ListenOptions extends AttachOptions {
  /** Default 0: a free port. */
  port?: number;
  /** Default "127.0.0.1": reachable from this machine only. Pass "0.0.0.0" or "::" to accept remote clients. */
  host?: string;
}

export interface WebSocketBridge {
  /** Serves grpc-ws on an existing server's `upgrade` event. */
  attach(server: HttpServer | HttpsServer, options?: AttachOptions): void;
  /** Takes one upgrade request (for frameworks that route upgrades themselves). */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Starts a standalone HTTP server for the bridge. */
  listen(options?: ListenOptions): Promise<{ port: number; url: string }>;
  /**
   * Graceful shutdown: GOAWAY on every connection, in-flight calls may finish for
   * `drainTimeoutMs`, then the rest are cancelled (UNAVAILABLE) and every socket closes.
   * Calling it again returns the same promise.
   */
  close(options?: {
    /** Overrides the `drainTimeoutMs` option for this shutdown. */
    drainTimeoutMs?: number;
  }): Promise<void>;
  /** Open WebSocket connections. */
  readonly connections: number;
}


/** Creates a bridge that serves gRPC over WebSocket from in-process handlers and/or an upstream gRPC server. */
export function createWebSocketBridge(options: WebSocketBridgeOptions): WebSocketBridge {
  return new Bridge(options);
}

class Bridge implements WebSocketBridge, ConnectionContext, GrpcWebSocketsContext {
  readonly router: BridgeRouter;
  readonly forwarder: Forwarder | undefined;
  readonly sessionOptions: ConnectionContext["sessionOptions"];
  readonly socketHighWaterMark: number;
  readonly settingsTimeoutMs: number;
  readonly contextValues: WebSocketBridgeOptions["contextValues"];
  readonly onCallEnd: ((info: CallEndInfo) => void) | undefined;
  readonly settings: Settings;
  readonly compression: CompressionOptions;
  readonly writeHighWaterMark: number;
  readonly headerTimeoutMs: number;
  private readonly open = new Set<Connection>();
  private readonly compat = new Set<GrpcWebSocketsConnection>();
  private readonly wss: WebSocketServer;
  private readonly compatWss: WebSocketServer;
  private readonly detach: Array<() => void> = [];
  private readonly ownServers: HttpServer[] = [];
  private closing: Promise<void> | undefined;
  private readonly resolved: ResolvedBridgeOptions;

  constructor(options: WebSocketBridgeOptions) {
    const o = resolveBridgeOptions(options);
    this.resolved = o;
    this.router = new BridgeRouter(options.readBinaryOptions, options.writeBinaryOptions, [...(options.interceptors ?? [])]);
    options.routes?.(this.router);
    this.forwarder = options.upstream !== undefined ? createUpstream(options.upstream) : undefined;
    this.sessionOptions = {
      settings: o.settings,
      keepalive: o.keepalive,
      writeHighWaterMark: o.writeHighWaterMark,
      // ws keeps a reference to each message until written, so written bytes are never reused.
      writer: { sinkCopies: false },
      trace: o.trace,
    };
    this.socketHighWaterMark = o.socketHighWaterMark;
    this.settingsTimeoutMs = o.settingsTimeoutMs;
    this.contextValues = options.contextValues;
    this.onCallEnd = options.onCallEnd;
    const maxPayload = o.maxPayload;
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload,
      perMessageDeflate: false,
      clientTracking: false,
      handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
    });
    // grpc-websockets: one call per socket, one request message per socket message (plus its tag and prefix).
    const settings = o.settings;
    this.settings = settings;
    this.writeHighWaterMark = o.writeHighWaterMark;
    this.compression = {
      accept: o.acceptCompression,
      minBytes: o.compressMinBytes,
      maxMessageSize: settings.maxMessageSize,
      writeHighWaterMark: o.writeHighWaterMark,
    };
    this.headerTimeoutMs = this.settingsTimeoutMs;
    this.compatWss = new WebSocketServer({
      noServer: true,
      maxPayload: Math.max(settings.maxMessageSize + 6 + 64 * 1024, settings.maxMetadataSize),
      perMessageDeflate: false,
      clientTracking: false,
      handleProtocols: () => GRPC_WEBSOCKETS,
    });
  }

  get connections(): number {
    return this.open.size + this.compat.size;
  }

  /** @internal For tests: the wire session of every open connection. */
  get sessions(): Session[] {
    return [...this.open].map((c) => c.session);
  }

  attach(server: HttpServer | HttpsServer, options: AttachOptions = {}): void {
    const path = options.path;
    const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
      const url = pathname(request.url);
      // grpc-websockets clients put the method after the path: "<path>/package.Service/Method".
      if (path !== undefined && url !== path && !url.startsWith(path.endsWith("/") ? path : `${path}/`)) return;
      this.upgrade(request, socket, head, path ?? "/");
    };
    server.on("upgrade", onUpgrade);
    this.detach.push(() => server.off("upgrade", onUpgrade));
  }

  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.upgrade(request, socket, head, "/");
  }

  private upgrade(request: IncomingMessage, socket: Duplex, head: Buffer, base: string): void {
    socket.on("error", ignore);
    if (this.closing) return reject(socket, 503, "Service Unavailable", "grpc-ws: the server is shutting down\n");
    if (!offersSubprotocol(request, SUBPROTOCOL) && offersSubprotocol(request, GRPC_WEBSOCKETS)) return this.upgradeCompat(request, socket, head, base);
    if (!offersSubprotocol(request, SUBPROTOCOL)) {
      return reject(socket, 400, "Bad Request", `grpc-ws: the WebSocket upgrade must offer the subprotocol "${SUBPROTOCOL}" (or "${GRPC_WEBSOCKETS}") in Sec-WebSocket-Protocol\n`);
    }
    this.wss.handleUpgrade(request, socket, head, (ws: WebSocket) => {
      socket.off("error", ignore);
      if (this.closing) {
        ws.close(1001, "server shutting down");
        return;
      }
      this.open.add(new Connection(ws, request, this));
    });
  }

  // A `grpc-websockets` socket: one call, whose method is the rest of the URL path.
  private upgradeCompat(request: IncomingMessage, socket: Duplex, head: Buffer, base: string): void {
    const url = pathname(request.url);
    const method = url.slice(base.endsWith("/") ? base.length - 1 : base.length);
    if (!/^\/[^/]+\/[^/]+$/.test(method)) {
      return reject(socket, 404, "Not Found", `grpc-ws: ${JSON.stringify(url)} does not name a method: grpc-websockets clients connect to <base URL>/package.Service/Method\n`);
    }
    this.compatWss.handleUpgrade(request, socket, head, (ws: WebSocket) => {
      socket.off("error", ignore);
      if (this.closing) {
        ws.close(1001, "server shutting down");
        return;
      }
      this.compat.add(new GrpcWebSocketsConnection(ws, request, method, this));
    });
  }

  connectionClosed(connection: Connection): void {
    this.open.delete(connection);
  }

  compatClosed(connection: GrpcWebSocketsConnection): void {
    this.compat.delete(connection);
  }

  async listen(options: ListenOptions = {}): Promise<{ port: number; url: string }> {
    const host = options.host ?? "127.0.0.1";
    const server = createServer((_req, res) => {
      res.writeHead(426, { "content-type": "text/plain", upgrade: "websocket" });
      res.end(`grpc-ws: connect with a WebSocket offering the subprotocol "${SUBPROTOCOL}"\n`);
    });
    this.attach(server, { path: options.path });
    this.ownServers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port ?? 0, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : (options.port ?? 0);
    const hostInUrl = host.includes(":") ? `[${host}]` : host;
    return { port, url: `ws://${hostInUrl}:${port}${options.path ?? "/"}` };
  }

  close(options: { drainTimeoutMs?: number } = {}): Promise<void> {
    if (options.drainTimeoutMs !== undefined) {
      try {
        checkDrainTimeout(options.drainTimeoutMs);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    this.closing ??= this.shutdown(options.drainTimeoutMs ?? this.resolved.drainTimeoutMs);
    return this.closing;
  }

  private async shutdown(drainTimeoutMs: number): Promise<void> {
    const servers = this.ownServers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    const connections = [...this.open];
    for (const c of connections) c.goAway();
    let timer: ReturnType<typeof setTimeout> | undefined;
    // A grpc-websockets socket is one call: it is idle once it has closed.
    await Promise.race([
      Promise.all([...connections.map((c) => c.session.whenIdle()), ...[...this.compat].map((c) => c.closed)]),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, drainTimeoutMs))),
    ]);
    clearTimeout(timer);
    for (const c of this.open) c.shutdown("server shutting down");
    for (const c of this.compat) c.shutdown("server shutting down");
    // Give each socket the close handshake, then cut the ones that do not answer.
    await Promise.all(
      [...this.open, ...this.compat].map(async (c) => {
        let cut: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([c.closed, new Promise<void>((resolve) => (cut = setTimeout(resolve, CLOSE_HANDSHAKE_MS)))]);
        clearTimeout(cut);
        c.ws.terminate();
        await c.closed;
      }),
    );
    for (const detach of this.detach) detach();
    await this.forwarder?.close();
    await Promise.all(servers);
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await new Promise<void>((resolve) => this.compatWss.close(() => resolve()));
  }
}

function pathname(url: string | undefined): string {
  if (!url) return "/";
  const q = url.indexOf("?");
  return q < 0 ? url : url.slice(0, q);
}

function offersSubprotocol(request: IncomingMessage, token: string): boolean {
  const header = request.headers["sec-websocket-protocol"];
  if (!header) return false;
  return header.split(",").some((p) => p.trim() === token);
}

function reject(socket: Duplex, status: number, reason: string, body: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const response = `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  socket.end(response, () => socket.destroy());
}

function ignore(): void {}

import { createServer, type IncomingMessage, type Server as HttpServer } from "node:http";
import type { Server as HttpsServer } from "node:https";
import type { Duplex } from "node:stream";
import { SUBPROTOCOL, type Session } from "@grpc-ws/wire";
import { CLOSE_HANDSHAKE_MS } from "@grpc-ws/wire/internal";
import { WebSocketServer, type WebSocket } from "ws";
import { AccessControl } from "./access/access-control.js";
import type { ConnectionInfo } from "./access/connection-info.js";
import { refuseWithHttp } from "./access/refusal.js";
import { Connection, type ConnectionContext } from "./connection.js";
import { checkDrainTimeout, resolveBridgeOptions, type CallEndInfo, type WebSocketBridgeOptions } from "./options.js";
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

class Bridge implements WebSocketBridge, ConnectionContext {
  readonly router: BridgeRouter;
  readonly forwarder: Forwarder | undefined;
  readonly sessionOptions: ConnectionContext["sessionOptions"];
  readonly socketHighWaterMark: number;
  readonly settingsTimeoutMs: number;
  readonly contextValues: WebSocketBridgeOptions["contextValues"];
  readonly onCallEnd: ((info: CallEndInfo) => void) | undefined;
  readonly drainTimeoutMs: number;
  private readonly access: AccessControl;
  private readonly open = new Set<Connection>();
  private readonly wss: WebSocketServer;
  private readonly detach: Array<() => void> = [];
  private readonly ownServers: HttpServer[] = [];
  private closing: Promise<void> | undefined;

  constructor(options: WebSocketBridgeOptions) {
    const o = resolveBridgeOptions(options);
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
    this.drainTimeoutMs = o.drainTimeoutMs;
    this.access = new AccessControl(options, CLOSE_HANDSHAKE_MS);
    const maxPayload = o.maxPayload;
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload,
      perMessageDeflate: false,
      clientTracking: false,
      handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
    });
  }

  get connections(): number {
    return this.open.size;
  }

  /** @internal For tests: the wire session of every open connection. */
  get sessions(): Session[] {
    return [...this.open].map((c) => c.session);
  }

  attach(server: HttpServer | HttpsServer, options: AttachOptions = {}): void {
    const path = options.path;
    const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
      if (path !== undefined && pathname(request.url) !== path) return;
      this.handleUpgrade(request, socket, head);
    };
    server.on("upgrade", onUpgrade);
    this.detach.push(() => server.off("upgrade", onUpgrade));
  }

  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on("error", ignore);
    if (this.closing) return refuseWithHttp(socket, 503, "grpc-ws: the server is shutting down\n");
    if (!offersSubprotocol(request)) {
      return refuseWithHttp(socket, 400, `grpc-ws: the WebSocket upgrade must offer the subprotocol "${SUBPROTOCOL}" in Sec-WebSocket-Protocol\n`);
    }
    // Origin policy and authentication decide before the upgrade (access/access-control.ts).
    const upgrade = (then: (ws: WebSocket) => void): void => {
      if (this.closing) return refuseWithHttp(socket, 503, "grpc-ws: the server is shutting down\n");
      this.wss.handleUpgrade(request, socket, head, (ws: WebSocket) => {
        socket.off("error", ignore);
        then(ws);
      });
    };
    this.access.admit(request, socket, upgrade, (ws, info) => this.accept(ws, request, info));
  }

  private accept(ws: WebSocket, request: IncomingMessage, info: ConnectionInfo): void {
    if (this.closing) {
      ws.close(1001, "server shutting down");
      return;
    }
    this.open.add(new Connection(ws, request, info, this));
  }

  connectionClosed(connection: Connection): void {
    this.open.delete(connection);
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
    this.closing ??= this.shutdown(options.drainTimeoutMs ?? this.drainTimeoutMs);
    return this.closing;
  }

  private async shutdown(drainTimeoutMs: number): Promise<void> {
    const servers = this.ownServers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    this.access.close();
    const connections = [...this.open];
    for (const c of connections) c.goAway();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(connections.map((c) => c.session.whenIdle())),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, drainTimeoutMs))),
    ]);
    clearTimeout(timer);
    for (const c of this.open) c.shutdown("server shutting down");
    // Give each socket the close handshake, then cut the ones that do not answer.
    await Promise.all(
      [...this.open].map(async (c) => {
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
  }
}

function pathname(url: string | undefined): string {
  if (!url) return "/";
  const q = url.indexOf("?");
  return q < 0 ? url : url.slice(0, q);
}

function offersSubprotocol(request: IncomingMessage): boolean {
  const header = request.headers["sec-websocket-protocol"];
  if (!header) return false;
  return header.split(",").some((p) => p.trim() === SUBPROTOCOL);
}

function ignore(): void {}

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
import { ConnectionGuard } from "./limits/connection-guard.js";
import type { ResolvedLimits } from "./limits/options.js";
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
  private readonly limits: ResolvedLimits;
  private readonly guard: ConnectionGuard;

  constructor(options: WebSocketBridgeOptions) {
    const o = resolveBridgeOptions(options);
    this.limits = o.limits;
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
      budgets: o.budgets,
    };
    this.socketHighWaterMark = o.socketHighWaterMark;
    this.settingsTimeoutMs = o.settingsTimeoutMs;
    this.guard = new ConnectionGuard(this.limits, this.socketHighWaterMark);
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
    this.attachTo(server, options.path, false);
  }

  // `ownServer`: nobody else can take an upgrade for another path, so it is answered 404 at once.
  private attachTo(server: HttpServer | HttpsServer, path: string | undefined, ownServer: boolean): void {
    const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
      const requested = pathname(request.url);
      if (path !== undefined && requested !== path) {
        // --- bounds: an upgrade nobody takes would hold its socket until the client gives up.
        if (ownServer || server.listenerCount("upgrade") === 1) {
          socket.on("error", ignore);
          refuseWithHttp(socket, 404, `grpc-ws: no WebSocket endpoint at ${requested} (this server serves ${path})\n`);
        }
        return;
      }
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
    // --- bounds: connection limits (total and per client address), counted until the socket closes.
    const refused = this.guard.admit(request, socket);
    if (refused !== undefined) return refuseWithHttp(socket, 503, `grpc-ws: ${refused}\n`);
    // --- end bounds
    // Origin policy and authentication decide before the upgrade (access/access-control.ts).
    const upgrade = (then: (ws: WebSocket) => void): void => {
      if (this.closing) return refuseWithHttp(socket, 503, "grpc-ws: the server is shutting down\n");
      this.wss.handleUpgrade(request, socket, head, (ws: WebSocket) => {
        socket.off("error", ignore);
        then(ws);
      });
    };
    this.access.admit(request, socket, upgrade, (ws, info) => this.accept(ws, request, socket, info));
  }

  private accept(ws: WebSocket, request: IncomingMessage, socket: Duplex, info: ConnectionInfo): void {
    if (this.closing) {
      ws.close(1001, "server shutting down");
      return;
    }
    const connection = new Connection(ws, request, info, this);
    this.open.add(connection);
    this.guard.watch(connection, socket);
  }

  connectionClosed(connection: Connection): void {
    this.open.delete(connection);
    this.guard.forget(connection);
  }

  async listen(options: ListenOptions = {}): Promise<{ port: number; url: string }> {
    const host = options.host ?? "127.0.0.1";
    const handshakeMs = this.limits.handshakeTimeoutMs;
    const timeouts = handshakeMs > 0 ? { headersTimeout: handshakeMs, requestTimeout: handshakeMs } : {};
    const server = createServer(timeouts, (_req, res) => {
      res.writeHead(426, { "content-type": "text/plain", upgrade: "websocket" });
      res.end(`grpc-ws: connect with a WebSocket offering the subprotocol "${SUBPROTOCOL}"\n`);
    });
    if (handshakeMs > 0) limitHandshake(server, handshakeMs);
    this.attachTo(server, options.path, true);
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
    this.guard.stop();
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
    // Sockets still in their HTTP request (not upgraded) would keep server.close() waiting.
    for (const s of this.ownServers) s.closeAllConnections();
    await this.forwarder?.close();
    await Promise.all(servers);
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}

/**
 * Drops a TCP connection that has not completed its upgrade request `ms` after it connected:
 * Node's own timers let a silent or dripping socket hold its slot for 60-90 s.
 */
function limitHandshake(server: HttpServer, ms: number): void {
  const timers = new WeakMap<object, ReturnType<typeof setTimeout>>();
  server.on("connection", (socket: Duplex) => {
    const timer = setTimeout(() => socket.destroy(), ms);
    timer.unref();
    timers.set(socket, timer);
    socket.once("close", () => clearTimeout(timer));
  });
  // Registered before the bridge's listener: the upgrade request is complete.
  server.on("upgrade", (_request: IncomingMessage, socket: Duplex) => clearTimeout(timers.get(socket)));
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

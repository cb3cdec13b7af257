import { createServer, type IncomingMessage, type ServerResponse, type Server as HttpServer } from "node:http";
import type { Server as HttpsServer } from "node:https";
import type { Duplex } from "node:stream";
import { SUBPROTOCOL, type Session } from "@grpc-ws/wire";
import { CLOSE_HANDSHAKE_MS } from "@grpc-ws/wire/internal";
import { WebSocketServer, type WebSocket } from "ws";
import { ConnectionIds, type ConnectionInfo } from "./connection-info.js";
import { Connection, type ConnectionContext } from "./connection.js";
import { createHealthHandler, pathOf, type HealthOptions } from "./health.js";
import { checkDrainTimeout, resolveBridgeOptions, type CallEndInfo, type ResolvedBridgeOptions, type WebSocketBridgeOptions } from "./options.js";
import { BridgeRouter } from "./router.js";
import { BridgeTelemetry, type UpgradeRefusal } from "./telemetry/bridge-telemetry.js";
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
  /** Health endpoints on the same port (liveness, and readiness that turns 503 on `close()`). Default `{ livePath: "/healthz", readyPath: "/readyz" }`; false: none. */
  health?: HealthOptions | false;
  /** Serves metrics (for example Prometheus text) on the same port. Default: none. */
  metrics?: MetricsEndpoint;
}

/** An HTTP path answered by a request listener, e.g. the OpenTelemetry Prometheus exporter's. */
export interface MetricsEndpoint {
  /** Default "/metrics". */
  path?: string;
  /** Answers the request, e.g. `(req, res) => exporter.getMetricsRequestHandler(req, res)`. */
  handler: (request: IncomingMessage, response: ServerResponse) => void;
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
  /** True from the moment `close()` was called: readiness fails, upgrades get 503. */
  readonly draining: boolean;
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
  readonly telemetry: BridgeTelemetry | undefined;
  readonly connectionAge: ConnectionContext["connectionAge"];
  private readonly ids = new ConnectionIds();
  private readonly open = new Set<Connection>();
  private readonly wss: WebSocketServer;
  private readonly detach: Array<() => void> = [];
  private readonly ownServers: HttpServer[] = [];
  private closing: Promise<void> | undefined;
  private readonly resolved: ResolvedBridgeOptions;
  private readonly onConnectionOpen: WebSocketBridgeOptions["onConnectionOpen"];
  private readonly onConnectionClose: WebSocketBridgeOptions["onConnectionClose"];

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
    this.telemetry = options.telemetry ? new BridgeTelemetry(options.telemetry) : undefined;
    this.onConnectionOpen = options.onConnectionOpen;
    this.onConnectionClose = options.onConnectionClose;
    this.connectionAge = o.connectionAge;
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

  get draining(): boolean {
    return this.closing !== undefined;
  }

  /** @internal For tests: the wire session of every open connection. */
  get sessions(): Session[] {
    return [...this.open].map((c) => c.session);
  }

  attach(server: HttpServer | HttpsServer, options: AttachOptions = {}): void {
    const path = options.path;
    const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
      if (path !== undefined && pathOf(request.url) !== path) return;
      this.handleUpgrade(request, socket, head);
    };
    server.on("upgrade", onUpgrade);
    this.detach.push(() => server.off("upgrade", onUpgrade));
  }

  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on("error", ignore);
    if (this.closing) return this.refuse(socket, "shutting_down", 503, "Service Unavailable", "grpc-ws: the server is shutting down\n");
    if (!offersSubprotocol(request)) {
      return this.refuse(socket, "no_subprotocol", 400, "Bad Request", `grpc-ws: the WebSocket upgrade must offer the subprotocol "${SUBPROTOCOL}" in Sec-WebSocket-Protocol\n`);
    }
    this.wss.handleUpgrade(request, socket, head, (ws: WebSocket) => {
      socket.off("error", ignore);
      if (this.closing) {
        ws.close(1001, "server shutting down");
        return;
      }
      const connection = new Connection(ws, request, this);
      this.open.add(connection);
      this.telemetry?.connectionOpened();
      callHook(this.onConnectionOpen, connection.info);
    });
  }

  describe(request: IncomingMessage): ConnectionInfo {
    return this.ids.create(request);
  }

  connectionClosed(connection: Connection, reason: string): void {
    if (!this.open.delete(connection)) return;
    this.telemetry?.connectionClosed();
    const info = connection.info;
    callHook(this.onConnectionClose, { ...info, durationMs: Date.now() - info.openedAt, calls: connection.callCount, reason });
  }

  private refuse(socket: Duplex, reason: UpgradeRefusal, status: number, statusText: string, body: string): void {
    this.telemetry?.upgradeRefused(reason);
    reject(socket, status, statusText, body);
  }

  async listen(options: ListenOptions = {}): Promise<{ port: number; url: string }> {
    const host = options.host ?? "127.0.0.1";
    const health = options.health === false ? undefined : createHealthHandler(this, options.health);
    const metrics = options.metrics;
    const metricsPath = metrics?.path ?? "/metrics";
    const server = createServer((req, res) => {
      if (health?.(req, res)) return;
      if (metrics && pathOf(req.url) === metricsPath) return metrics.handler(req, res);
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
    // Own servers answered health probes (readiness 503) during the drain; now they stop.
    await Promise.all(
      this.ownServers.map((s) => {
        const closed = new Promise<void>((resolve) => s.close(() => resolve()));
        s.closeIdleConnections();
        return closed;
      }),
    );
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}

function callHook<T>(hook: ((info: T) => void) | undefined, info: T): void {
  if (!hook) return;
  try {
    hook(info);
  } catch {
    // A logging hook must not break the connection it reports on.
  }
}

function offersSubprotocol(request: IncomingMessage): boolean {
  const header = request.headers["sec-websocket-protocol"];
  if (!header) return false;
  return header.split(",").some((p) => p.trim() === SUBPROTOCOL);
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

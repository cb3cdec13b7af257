import { createServer, type IncomingMessage, type ServerResponse, type Server as HttpServer } from "node:http";
import type { Server as HttpsServer } from "node:https";
import type { Duplex } from "node:stream";
import { GRPC_WEBSOCKETS, SUBPROTOCOL, type Session, type Settings } from "@grpc-ws/wire";
import { CLOSE_HANDSHAKE_MS } from "@grpc-ws/wire/internal";
import { WebSocketServer, type WebSocket } from "ws";
import { AccessControl } from "./access/access-control.js";
import type { ConnectionInfo } from "./access/connection-info.js";
import { refuseWithHttp, type RefusalInfo } from "./access/refusal.js";
import { Connection, type ConnectionContext } from "./connection.js";
import { createHealthHandler, type HealthOptions } from "./health.js";
import { pathOf } from "./request-path.js";
import { ConnectionGuard } from "./limits/connection-guard.js";
import type { ResolvedLimits } from "./limits/options.js";
import { checkDrainTimeout, resolveBridgeOptions, type CallEndInfo, type WebSocketBridgeOptions } from "./options.js";
import type { CompressionOptions } from "./dispatch.js";
import { GrpcWebSocketsConnection, type GrpcWebSocketsContext } from "./front/grpc-websockets/connection.js";
import { BridgeRouter } from "./router.js";
import { BridgeTelemetry, type UpgradeRefusal } from "./telemetry/bridge-telemetry.js";
import { createUpstream, type Forwarder } from "./upstream/index.js";
import { splitProtocols } from "./access/upgrade-request.js";

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

class Bridge implements WebSocketBridge, ConnectionContext, GrpcWebSocketsContext {
  readonly router: BridgeRouter;
  readonly forwarder: Forwarder | undefined;
  readonly sessionOptions: ConnectionContext["sessionOptions"];
  readonly socketHighWaterMark: number;
  readonly settingsTimeoutMs: number;
  readonly contextValues: WebSocketBridgeOptions["contextValues"];
  readonly onCallEnd: ((info: CallEndInfo) => void) | undefined;
  readonly drainTimeoutMs: number;
  private readonly access: AccessControl;
  readonly settings: Settings;
  readonly compression: CompressionOptions;
  readonly writeHighWaterMark: number;
  readonly headerTimeoutMs: number;
  readonly keepalive: GrpcWebSocketsContext["keepalive"];
  readonly telemetry: BridgeTelemetry | undefined;
  readonly connectionAge: ConnectionContext["connectionAge"];
  private readonly open = new Set<Connection>();
  private readonly compat = new Set<GrpcWebSocketsConnection>();
  private readonly wss: WebSocketServer;
  private readonly compatWss: WebSocketServer;
  private readonly detach: Array<() => void> = [];
  private readonly ownServers: HttpServer[] = [];
  private closing: Promise<void> | undefined;
  private readonly limits: ResolvedLimits;
  private readonly guard: ConnectionGuard;
  private readonly onConnectionOpen: WebSocketBridgeOptions["onConnectionOpen"];
  private readonly onConnectionClose: WebSocketBridgeOptions["onConnectionClose"];

  constructor(options: WebSocketBridgeOptions) {
    const o = resolveBridgeOptions(options);
    this.limits = o.limits;
    this.router = new BridgeRouter(options.readBinaryOptions, options.writeBinaryOptions, [
      ...(options.interceptors ?? []),
    ]);
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
    this.telemetry = options.telemetry ? new BridgeTelemetry(options.telemetry) : undefined;
    this.onConnectionOpen = options.onConnectionOpen;
    this.onConnectionClose = options.onConnectionClose;
    this.connectionAge = o.connectionAge;
    this.drainTimeoutMs = o.drainTimeoutMs;
    const telemetry = this.telemetry;
    this.access = new AccessControl(
      options,
      CLOSE_HANDSHAKE_MS,
      telemetry ? (info: RefusalInfo) => telemetry.upgradeRefused(info.reason) : undefined,
    );
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
    this.keepalive = o.keepalive;
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

  get draining(): boolean {
    return this.closing !== undefined;
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
      const requested = pathOf(request.url);
      // grpc-ws v1 takes the exact path; grpc-websockets clients put the method after it ("<path>/package.Service/Method").
      const exact = path === undefined || requested === path;
      const compatPrefix =
        path !== undefined &&
        requested.startsWith(path.endsWith("/") ? path : `${path}/`) &&
        offersOnlyGrpcWebSockets(request);
      if (!exact && !compatPrefix) {
        // --- bounds: an upgrade nobody takes would hold its socket until the client gives up.
        if (ownServer || server.listenerCount("upgrade") === 1) {
          socket.on("error", ignore);
          this.refuse(
            socket,
            "not_found",
            404,
            `grpc-ws: no WebSocket endpoint at ${requested} (this server serves ${path})\n`,
          );
        }
        return;
      }
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
    if (this.closing) return this.refuse(socket, "shutting_down", 503, "grpc-ws: the server is shutting down\n");
    const compat = offersOnlyGrpcWebSockets(request);
    if (!compat && !offersSubprotocol(request, SUBPROTOCOL)) {
      return this.refuse(
        socket,
        "no_subprotocol",
        400,
        `grpc-ws: the WebSocket upgrade must offer the subprotocol "${SUBPROTOCOL}" (or "${GRPC_WEBSOCKETS}") in Sec-WebSocket-Protocol\n`,
      );
    }
    // grpc-websockets: one call per socket, its method the rest of the URL path.
    const method = compat ? compatMethod(pathOf(request.url), base) : undefined;
    if (compat && method === undefined) {
      return this.refuse(
        socket,
        "not_found",
        404,
        `grpc-ws: ${JSON.stringify(pathOf(request.url))} does not name a method: grpc-websockets clients connect to <base URL>/package.Service/Method\n`,
      );
    }
    // --- bounds: connection limits (total and per client address), counted until the socket closes.
    const refused = this.guard.admit(request, socket);
    if (refused !== undefined) return this.refuse(socket, "connection_limit", 503, `grpc-ws: ${refused}\n`);
    // --- end bounds
    // Origin policy and authentication decide before the upgrade, for both front ends (access/access-control.ts).
    const wss = compat ? this.compatWss : this.wss;
    const upgrade = (then: (ws: WebSocket) => void): void => {
      if (this.closing) return this.refuse(socket, "shutting_down", 503, "grpc-ws: the server is shutting down\n");
      wss.handleUpgrade(request, socket, head, (ws: WebSocket) => {
        socket.off("error", ignore);
        then(ws);
      });
    };
    this.access.admit(request, socket, upgrade, (ws, info) => this.accept(ws, request, socket, info, method));
  }

  private accept(
    ws: WebSocket,
    request: IncomingMessage,
    socket: Duplex,
    info: ConnectionInfo,
    compatMethod: string | undefined,
  ): void {
    if (this.closing) {
      ws.close(1001, "server shutting down");
      return;
    }
    if (compatMethod !== undefined) {
      this.compat.add(new GrpcWebSocketsConnection(ws, request, compatMethod, info, this));
    } else {
      const connection = new Connection(ws, request, info, this);
      this.open.add(connection);
      this.guard.watch(connection, socket);
    }
    this.telemetry?.connectionOpened();
    callHook(this.onConnectionOpen, info);
  }

  connectionClosed(connection: Connection, reason: string): void {
    this.guard.forget(connection);
    if (!this.open.delete(connection)) return;
    this.closed(connection.info, connection.callCount, reason);
  }

  compatClosed(connection: GrpcWebSocketsConnection, reason: string): void {
    if (!this.compat.delete(connection)) return;
    this.closed(connection.connection, connection.callCount, reason);
  }

  private closed(info: ConnectionInfo, calls: number, reason: string): void {
    this.telemetry?.connectionClosed();
    callHook(this.onConnectionClose, { ...info, durationMs: Date.now() - info.openedAt, calls, reason });
  }

  private refuse(socket: Duplex, reason: UpgradeRefusal, status: number, body: string): void {
    this.telemetry?.upgradeRefused(reason);
    refuseWithHttp(socket, status, body);
  }

  async listen(options: ListenOptions = {}): Promise<{ port: number; url: string }> {
    const host = options.host ?? "127.0.0.1";
    const handshakeMs = this.limits.handshakeTimeoutMs;
    const timeouts = handshakeMs > 0 ? { headersTimeout: handshakeMs, requestTimeout: handshakeMs } : {};
    const health = options.health === false ? undefined : createHealthHandler(this, options.health);
    const metrics = options.metrics;
    const metricsPath = metrics?.path ?? "/metrics";
    const server = createServer(timeouts, (req, res) => {
      if (health?.(req, res)) return;
      if (metrics && pathOf(req.url) === metricsPath) return metrics.handler(req, res);
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
    this.access.close();
    this.guard.stop();
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
    await this.forwarder?.close();
    // Own servers answered health probes (readiness 503) during the drain; now they stop.
    // Sockets still in their HTTP request (not upgraded) would keep server.close() waiting. The
    // upgrade listener stays until then: it answers late upgrades 503, which ends their sockets.
    await Promise.all(
      this.ownServers.map((s) => {
        const closed = new Promise<void>((resolve) => s.close(() => resolve()));
        s.closeAllConnections();
        return closed;
      }),
    );
    for (const detach of this.detach) detach();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await new Promise<void>((resolve) => this.compatWss.close(() => resolve()));
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

/** The upgrade offers `grpc-websockets` and not `grpc-ws.v1` (a client of improbable-eng/grpc-web or nice-grpc-web). */
function offersOnlyGrpcWebSockets(request: IncomingMessage): boolean {
  return !offersSubprotocol(request, SUBPROTOCOL) && offersSubprotocol(request, GRPC_WEBSOCKETS);
}

/** "/package.Service/Method" from a grpc-websockets URL path under `base`, or undefined. */
function compatMethod(url: string, base: string): string | undefined {
  const method = url.slice(base.endsWith("/") ? base.length - 1 : base.length);
  return /^\/[^/]+\/[^/]+$/.test(method) ? method : undefined;
}

function offersSubprotocol(request: IncomingMessage, token: string): boolean {
  return splitProtocols(request.headers["sec-websocket-protocol"]).includes(token);
}

function ignore(): void {}

// Test helpers: real sockets on 127.0.0.1 only.
import { createServer, type Server } from "node:http";
import { createServer as createTcpServer, connect, type Socket as TcpSocket } from "node:net";
import {
  FrameWriter,
  SUBPROTOCOL,
  Session,
  SessionClosedError,
  resolveSettings,
  writeSettings,
  type SessionOptions,
  type Settings,
} from "@grpc-ws/wire";
import WebSocket, { WebSocketServer } from "ws";
import type { WebSocketConstructor } from "./websocket.js";

/** A WebSocket class (ws) that counts the sockets it opened. */
export function countingWebSocket(): { ctor: WebSocketConstructor; opened: () => number } {
  let opened = 0;
  class Counting extends WebSocket {
    constructor(url: string, protocols: string | string[], options?: WebSocket.ClientOptions) {
      super(url, protocols, options);
      opened++;
    }
  }
  return { ctor: Counting as unknown as WebSocketConstructor, opened: () => opened };
}

/** The bytes of one SETTINGS frame. */
export function settingsFrame(settings?: Partial<Settings>): Uint8Array {
  let out = new Uint8Array(0);
  const writer = new FrameWriter((m) => (out = m.slice()), { schedule: () => {} });
  writeSettings(writer, resolveSettings(settings));
  writer.flush();
  return out;
}

/** The bytes of one GOAWAY frame. */
export function goAwayFrame(lastStreamId: number, code: number): Uint8Array {
  let out = new Uint8Array(0);
  const writer = new FrameWriter((m) => (out = m.slice()), { schedule: () => {} });
  writer.goAway(lastStreamId, code, "test");
  writer.flush();
  return out;
}

export interface RawServer {
  url: string;
  port: number;
  readonly sockets: Set<WebSocket>;
  close(): Promise<void>;
}

/** A WebSocket server speaking the subprotocol, with `onConnection` in full control of each socket. */
export async function startRawServer(onConnection: (ws: WebSocket) => void): Promise<RawServer> {
  const http: Server = createServer();
  const wss = new WebSocketServer({
    server: http,
    perMessageDeflate: false,
    handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
  });
  const sockets = new Set<WebSocket>();
  wss.on("connection", (ws) => {
    sockets.add(ws);
    ws.on("close", () => sockets.delete(ws));
    ws.on("error", () => {});
    onConnection(ws);
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const port = (http.address() as { port: number }).port;
  return {
    url: `ws://127.0.0.1:${port}/`,
    port,
    sockets,
    async close() {
      for (const ws of sockets) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

/** Runs a server-role wire Session on `ws`. */
export function serveSession(ws: WebSocket, options: Omit<SessionOptions, "role">): Session {
  const session = new Session(
    {
      send: (m) => void ws.send(m),
      close: (code, reason) => ws.close(code, reason),
    },
    { ...options, role: "server" },
  );
  ws.binaryType = "nodebuffer";
  ws.on("message", (data: Buffer) => session.receive(data));
  ws.on("close", () => session.close(new SessionClosedError("socket closed"), 0));
  return session;
}

export interface TcpProxy {
  port: number;
  url: (path?: string) => string;
  /** Destroys every proxied connection in both directions (an abrupt connection loss). */
  cut(): void;
  close(): Promise<void>;
}

/** A TCP proxy to 127.0.0.1:`targetPort`, so a test can drop connections abruptly. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<[TcpSocket, TcpSocket]>();
  const server = createTcpServer((client) => {
    const upstream = connect(targetPort, "127.0.0.1");
    const pair: [TcpSocket, TcpSocket] = [client, upstream];
    pairs.add(pair);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const cut = () => {
    for (const [a, b] of [...pairs]) {
      a.destroy();
      b.destroy();
    }
    pairs.clear();
  };
  return {
    port,
    url: (path = "/") => `ws://127.0.0.1:${port}${path}`,
    cut,
    async close() {
      cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Resolves when `predicate` holds, polling every 5 ms; rejects after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, timeoutMs = 2000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

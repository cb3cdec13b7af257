// Connection-level limits against real sockets: counts, idleness, slow handshakes, wrong paths, peers that stop reading.
import { createServer, request as httpRequest, type Server } from "node:http";
import net from "node:net";
import { CloseCode, ErrorCode, FrameType, Status } from "@grpc-ws/wire";
import { afterEach, describe, expect, test } from "vitest";
import { TestService } from "../../../../gen/grpc/testing/test_pb.js";
import { createWebSocketBridge, type WebSocketBridge, type WebSocketBridgeOptions } from "../index.js";
import { TestClient, RawPeer, until } from "../test-client.test-util.js";

const TS = "/grpc.testing.TestService";
const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startBridge(
  options: Partial<WebSocketBridgeOptions> = {},
  path?: string,
): Promise<{ bridge: WebSocketBridge; url: string; port: number }> {
  const bridge = createWebSocketBridge({
    routes: (r) => {
      r.rpc(TestService.method.emptyCall, () => ({}));
      r.rpc(TestService.method.streamingOutputCall, async function* () {
        for (let i = 0; i < 2_000; i++) yield { payload: { body: new Uint8Array(16 * 1024) } };
      });
    },
    keepalive: false,
    ...options,
  });
  const { url, port } = await bridge.listen({ path });
  cleanups.push(() => bridge.close({ drainTimeoutMs: 100 }));
  return { bridge, url, port };
}

function track<T extends { close(): Promise<unknown> }>(peer: T): T {
  cleanups.push(() => peer.close());
  return peer;
}

/** The HTTP status an upgrade request for `path` gets, with the time it took. */
function upgradeStatus(port: number, path: string): Promise<{ status: number | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: "127.0.0.1",
      port,
      path,
      headers: {
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-protocol": "grpc-ws.v1",
      },
    });
    req.on("response", (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode, body }));
    });
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode, body: "" });
    });
    req.on("error", reject);
    req.setTimeout(5_000, () => reject(new Error(`no answer for ${path} within 5 s`)));
    req.end();
  });
}

describe("an upgrade to a path the bridge does not serve", () => {
  test("listen({ path }): 404 at once (trailing slash included), the socket is freed and close() does not hang", async () => {
    const { bridge, port } = await startBridge({}, "/grpc");
    for (const path of ["/grpc/", "/other", "/"]) {
      const { status, body } = await upgradeStatus(port, path);
      expect(status).toBe(404);
      expect(body).toContain(path);
      expect(body).toContain("/grpc");
    }
    expect((await upgradeStatus(port, "/grpc?x=1")).status).toBe(101);
    await until(() => bridge.connections === 0, "the upgraded test socket to close");
    await bridge.close({ drainTimeoutMs: 100 });
  });

  test("attach({ path }) answers 404 when it is the server's only upgrade listener, and leaves the request alone otherwise", async () => {
    const server: Server = createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const port = (server.address() as net.AddressInfo).port;
    const bridge = createWebSocketBridge({ routes: (r) => r.rpc(TestService.method.emptyCall, () => ({})) });
    bridge.attach(server, { path: "/grpc" });
    cleanups.push(() => bridge.close({ drainTimeoutMs: 100 }));
    expect((await upgradeStatus(port, "/grpc/")).status).toBe(404);
    // Another listener that takes other paths: the bridge must not answer for it.
    server.on("upgrade", (req, socket) => {
      if (req.url === "/mine")
        socket.end("HTTP/1.1 418 I'm a teapot\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    });
    expect((await upgradeStatus(port, "/mine")).status).toBe(418);
  });
});

describe("connection counts", () => {
  test("maxConnectionsPerAddress: the next upgrade from the address gets 503 until one closes", async () => {
    const { bridge, url, port } = await startBridge({ limits: { maxConnectionsPerAddress: 3 } });
    const clients = await Promise.all([1, 2, 3].map(() => TestClient.connect(url).then(track)));
    const refused = await upgradeStatus(port, "/");
    expect(refused.status).toBe(503);
    expect(refused.body).toMatch(/maximum of 3 connections/);
    expect(bridge.connections).toBe(3);
    await clients[0]!.close();
    await until(() => bridge.connections === 2, "the bridge to see the close");
    const again = track(await TestClient.connect(url));
    expect((await again.call(`${TS}/EmptyCall`, [new Uint8Array(0)]).done).status?.code).toBe(Status.OK);
  });

  test("maxConnections: the bridge-wide bound", async () => {
    const { url, port } = await startBridge({ limits: { maxConnections: 2, maxConnectionsPerAddress: 0 } });
    await TestClient.connect(url).then(track);
    await TestClient.connect(url).then(track);
    const refused = await upgradeStatus(port, "/");
    expect(refused.status).toBe(503);
    expect(refused.body).toMatch(/maximum of 2 connections/);
  });
});

describe("idle connections", () => {
  test("a connection without calls for idleTimeoutMs gets GOAWAY NO_ERROR and close 1000; one with an open call stays", async () => {
    const { bridge, url } = await startBridge({ limits: { idleTimeoutMs: 200 } });
    const idle = track(await RawPeer.connect(url));
    idle.settings();
    const busy = track(await TestClient.connect(url));
    // A server-streaming call that the client does not read: open for as long as the test wants.
    const call = busy.call(`${TS}/StreamingOutputCall`, [new Uint8Array(0)], { read: false });
    const closed = await Promise.race([idle.closed, new Promise<undefined>((r) => setTimeout(r, 5_000))]);
    expect(closed?.code).toBe(CloseCode.NORMAL);
    const goAway = idle.frames.find((f) => f.type === FrameType.GOAWAY);
    expect(goAway).toBeDefined();
    expect(new DataView(goAway!.payload.buffer, goAway!.payload.byteOffset).getUint32(4)).toBe(ErrorCode.NO_ERROR);
    expect(busy.closeEvent).toBeUndefined();
    await until(() => bridge.connections === 1, "the bridge to drop the idle connection");
    call.resume();
    expect((await call.done).status?.code).toBe(Status.OK);
  });
});

describe("handshake timeouts of listen()", () => {
  test("a TCP connection that sends nothing, and one that drips its headers, are dropped after handshakeTimeoutMs", async () => {
    const { port } = await startBridge({ limits: { handshakeTimeoutMs: 300 } });
    const started = performance.now();
    const silent = net.connect(port, "127.0.0.1");
    const dripping = net.connect(port, "127.0.0.1");
    let drip: ReturnType<typeof setInterval> | undefined;
    dripping.on("connect", () => {
      dripping.write("GET / HTTP/1.1\r\n");
      drip = setInterval(() => dripping.write("x-a: b\r\n"), 50);
    });
    cleanups.push(() => {
      clearInterval(drip);
      silent.destroy();
      dripping.destroy();
    });
    const closedAt = (s: net.Socket) => new Promise<number>((r) => s.on("close", () => r(performance.now() - started)));
    silent.on("error", () => undefined);
    dripping.on("error", () => undefined);
    const [a, b] = await Promise.all([closedAt(silent), closedAt(dripping)]);
    // Closed by the server: with Node's defaults this takes 60-90 s.
    expect(a).toBeLessThan(10_000);
    expect(b).toBeLessThan(10_000);
  });
});

describe("a client that stops reading", () => {
  test("is dropped once its socket stays above socketHighWaterMark without progress for slowReaderTimeoutMs", async () => {
    const { bridge, url } = await startBridge({ socketHighWaterMark: 64 * 1024, limits: { slowReaderTimeoutMs: 300 } });
    const reader = track(
      await TestClient.connect(url, { initialStreamWindow: 1 << 30, initialConnectionWindow: 1 << 30 }),
    );
    const good = track(await TestClient.connect(url));
    // The TCP socket stops being read: the kernel buffers fill, then the bridge's socket buffer.
    (reader.ws as unknown as { _socket: net.Socket })._socket.pause();
    for (let i = 0; i < 8; i++) reader.call(`${TS}/StreamingOutputCall`, [new Uint8Array(0)]);
    await until(() => bridge.connections === 1, "the stalled reader to be dropped", 20_000);
    expect((await good.call(`${TS}/EmptyCall`, [new Uint8Array(0)]).done).status?.code).toBe(Status.OK);
  });
});

// The authentication hook on the upgrade, with real sockets and the real client: refusals as the
// client sees them (Node: HTTP status; browsers: close code), identity in handlers, interceptors
// and onCallEnd, the bearer subprotocol token kept out of responses, metadata and logs.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { Socket } from "node:net";
import { Code, ConnectError, createClient, createContextValues, type Interceptor } from "@connectrpc/connect";
import { createWebSocketTransport, type WebSocketTransport } from "@grpc-ws/client";
import { SUBPROTOCOL, bearerSubprotocol } from "@grpc-ws/wire";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { TestService } from "../../../../gen/grpc/testing/test_pb.js";
import { createWebSocketBridge, type CallEndInfo, type WebSocketBridge } from "../index.js";
import { until } from "../test-client.test-util.js";
import type { AuthenticateContext } from "./authenticate.js";
import { connectionKey, connectionOf } from "./connection-info.js";
import type { RefusalInfo } from "./refusal.js";
import { probeUpgrade } from "./upgrade-probe.test-util.js";

// Distinct strings, so that finding one anywhere is meaningful.
const ALICE_TOKEN = "tok-alice-7f3a9c";
const FORBIDDEN_TOKEN = "tok-mallory-d41e";
const THROW_TOKEN = "tok-throw-11aa";
const HANG_TOKEN = "tok-hang-22bb";
const AUTH_TIMEOUT_MS = 300;

interface Seen {
  hook: AuthenticateContext[];
  hookAt: number[];
  handler: Array<{ identity: unknown; headers: Array<[string, string]> }>;
  interceptor: unknown[];
  ended: CallEndInfo[];
  refused: RefusalInfo[];
  requests: IncomingMessage[];
  hookAborted: unknown[];
}
const seen: Seen = {
  hook: [],
  hookAt: [],
  handler: [],
  interceptor: [],
  ended: [],
  refused: [],
  requests: [],
  hookAborted: [],
};

const recordIdentity: Interceptor = (next) => async (req) => {
  seen.interceptor.push(req.contextValues.get(connectionKey)?.identity);
  return next(req);
};

let bridge: WebSocketBridge;
let server: Server;
let url = "";
const serverSockets = new Set<Socket>();
const transports: WebSocketTransport[] = [];
const warn = vi.spyOn(console, "warn");

beforeAll(async () => {
  bridge = createWebSocketBridge({
    keepalive: false,
    authenticateTimeoutMs: AUTH_TIMEOUT_MS,
    async authenticate(req) {
      seen.hook.push(req);
      seen.hookAt.push(performance.now());
      switch (req.token ?? req.cookies["session"]) {
        case ALICE_TOKEN:
          return { identity: { user: "alice" } };
        case "cookie-bob":
          return { identity: { user: "bob" } };
        case FORBIDDEN_TOKEN:
          throw new ConnectError("mallory may not use this service", Code.PermissionDenied);
        case THROW_TOKEN:
          throw new Error("user database unreachable at 10.0.0.7");
        case HANG_TOKEN:
          return new Promise((_resolve, reject) => {
            req.signal.addEventListener("abort", () => {
              seen.hookAborted.push(req.signal.reason);
              reject(req.signal.reason);
            });
          });
        default:
          throw new ConnectError("a valid token is required", Code.Unauthenticated);
      }
    },
    onRefused: (info) => seen.refused.push(info),
    interceptors: [recordIdentity],
    contextValues: (request) => {
      seen.requests.push(request);
      return createContextValues();
    },
    routes: (router) =>
      router.rpc(TestService.method.unaryCall, (_req, ctx) => {
        seen.handler.push({ identity: connectionOf(ctx.values).identity, headers: [...ctx.requestHeader] });
        return {};
      }),
    onCallEnd: (info) => seen.ended.push(info),
  });
  server = createServer();
  server.on("connection", (socket) => {
    serverSockets.add(socket);
    socket.on("close", () => serverSockets.delete(socket));
  });
  bridge.attach(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `ws://127.0.0.1:${(server.address() as { port: number }).port}/`;
});

afterEach(async () => {
  await Promise.all(transports.splice(0).map((t) => t.close()));
  await until(() => bridge.connections === 0, "every connection to close");
});

afterAll(async () => {
  await bridge?.close({ drainTimeoutMs: 100 });
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  warn.mockRestore();
});

function client(
  options: { token?: string | (() => Promise<string>); headers?: Record<string, string>; initialDelayMs?: number } = {},
) {
  const transport = createWebSocketTransport({
    url,
    token: options.token,
    headers: options.headers,
    keepalive: false,
    reconnect: { initialDelayMs: options.initialDelayMs ?? 50, jitter: 0 },
  });
  transports.push(transport);
  return { transport, service: createClient(TestService, transport) };
}

async function refusalOf(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (e) {
    return ConnectError.from(e);
  }
  throw new Error("the call succeeded");
}

describe("a connection the hook lets in", () => {
  it("carries the identity to the handler, the interceptor and onCallEnd; the hook saw the token, not the handler", async () => {
    Object.assign(seen, { hook: [], handler: [], interceptor: [], ended: [] });
    const { service } = client({ token: ALICE_TOKEN });
    await service.unaryCall({});
    expect(seen.hook).toHaveLength(1);
    const hook = seen.hook[0]!;
    expect(hook.token).toBe(ALICE_TOKEN);
    expect(hook.subprotocols).toEqual([SUBPROTOCOL]);
    expect(hook.headers["sec-websocket-protocol"]).toBe(SUBPROTOCOL);
    expect(hook.origin).toBeUndefined();
    expect(hook.remoteAddress).toBe("127.0.0.1");
    expect(hook.url.pathname).toBe("/");
    expect(hook.tls).toBeUndefined();
    expect(seen.handler).toEqual([{ identity: { user: "alice" }, headers: expect.any(Array) }]);
    expect(seen.interceptor).toEqual([{ user: "alice" }]);
    expect(seen.ended).toHaveLength(1);
    expect(seen.ended[0]!.connection.identity).toEqual({ user: "alice" });
    expect(seen.ended[0]!.connection.request.remoteAddress).toBe("127.0.0.1");
    // The token went nowhere but the hook.
    expect(JSON.stringify(seen.handler)).not.toContain(ALICE_TOKEN);
    expect(JSON.stringify(seen.handler)).not.toContain("grpc-ws.bearer");
    expect(JSON.stringify(seen.ended)).not.toContain(ALICE_TOKEN);
    expect("token" in seen.ended[0]!.connection.request).toBe(false);
    const raw = seen.requests.at(-1)!;
    expect(raw.headers["sec-websocket-protocol"]).toBe(SUBPROTOCOL);
    expect(raw.rawHeaders.join("\n")).not.toContain("grpc-ws.bearer");
  });

  it("never echoes the bearer subprotocol: the server selects grpc-ws.v1", async () => {
    const probe = await probeUpgrade(url, {
      protocols: [SUBPROTOCOL, bearerSubprotocol(ALICE_TOKEN)],
      closeWithinMs: 50,
    });
    expect(probe.status).toBe(101);
    expect(probe.headers["sec-websocket-protocol"]).toBe(SUBPROTOCOL);
    expect(JSON.stringify(probe.headers)).not.toContain("bearer");
  });

  it("takes upgrade headers from a Node client: a session cookie", async () => {
    seen.handler.length = 0;
    const { service } = client({ headers: { cookie: "theme=dark; session=cookie-bob" } });
    await service.unaryCall({});
    expect(seen.hook.at(-1)!.cookies).toMatchObject({ theme: "dark", session: "cookie-bob" });
    expect(seen.hook.at(-1)!.token).toBeUndefined();
    expect(seen.handler.at(-1)!.identity).toEqual({ user: "bob" });
  });
});

describe("a refused connection", () => {
  it("Unauthenticated and PermissionDenied reach every pending call with the server's message; the state says refused", async () => {
    const anonymous = client();
    const calls = [anonymous.service.unaryCall({}), anonymous.service.unaryCall({})];
    for (const error of await Promise.all(calls.map(refusalOf))) {
      expect(error.code).toBe(Code.Unauthenticated);
      expect(error.rawMessage).toBe("a valid token is required");
    }
    expect(anonymous.transport.state).toBe("refused");
    const mallory = client({ token: FORBIDDEN_TOKEN });
    const error = await refusalOf(mallory.service.unaryCall({}));
    expect(error.code).toBe(Code.PermissionDenied);
    expect(error.rawMessage).toBe("mallory may not use this service");
  });

  it("backs off between refused attempts instead of hammering the server", async () => {
    const delay = 400;
    const { service } = client({ initialDelayMs: delay });
    const before = seen.hookAt.length;
    await refusalOf(service.unaryCall({}));
    await refusalOf(service.unaryCall({}));
    await refusalOf(service.unaryCall({}));
    const times = seen.hookAt.slice(before);
    expect(times).toHaveLength(3);
    // Second attempt after the initial delay, third after 1.6 times that (jitter 0).
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(delay - 20);
    expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(1.6 * delay - 20);
  });

  it("is HTTP 401/403 with grpc-status for a client without Origin, before any WebSocket exists", async () => {
    const anonymous = await probeUpgrade(url);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers["grpc-status"]).toBe(String(Code.Unauthenticated));
    expect(anonymous.headers["grpc-message"]).toBe("a valid token is required");
    const forbidden = await probeUpgrade(url, { protocols: [SUBPROTOCOL, bearerSubprotocol(FORBIDDEN_TOKEN)] });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body).toContain("mallory may not use this service");
    expect(bridge.connections).toBe(0);
  });

  it("is an upgrade closed with 4000 + code and the message for a browser (Origin present), nothing read", async () => {
    const origin = `http://${new URL(url).host}`;
    const probe = await probeUpgrade(url, { headers: { origin } });
    expect(probe.status).toBe(101);
    expect(probe.close).toEqual({ code: 4000 + Code.Unauthenticated, reason: "a valid token is required" });
    const forbidden = await probeUpgrade(url, {
      headers: { origin },
      protocols: [SUBPROTOCOL, bearerSubprotocol(FORBIDDEN_TOKEN)],
    });
    expect(forbidden.headers["sec-websocket-protocol"]).toBe(SUBPROTOCOL);
    expect(forbidden.close).toEqual({ code: 4000 + Code.PermissionDenied, reason: "mallory may not use this service" });
    expect(bridge.connections).toBe(0);
    expect(seen.refused.at(-1)).toMatchObject({
      reason: "permission-denied",
      httpStatus: undefined,
      closeCode: 4007,
      origin,
    });
  });

  it("a hook that throws gives 500 / Internal without its details; the details go to onRefused only", async () => {
    seen.refused.length = 0;
    const { service } = client({ token: THROW_TOKEN });
    const error = await refusalOf(service.unaryCall({}));
    expect(error.code).toBe(Code.Internal);
    expect(error.rawMessage).toBe("authentication failed on the server");
    expect(error.message).not.toContain("10.0.0.7");
    expect((await probeUpgrade(url, { protocols: [SUBPROTOCOL, bearerSubprotocol(THROW_TOKEN)] })).status).toBe(500);
    expect(seen.refused[0]).toMatchObject({ reason: "failed", code: Code.Internal, httpStatus: 500 });
    expect((seen.refused[0]!.error as Error).message).toBe("user database unreachable at 10.0.0.7");
  });

  it("a hook that hangs gives 503 / Unavailable after authenticateTimeoutMs, aborts the hook and leaks no socket", async () => {
    seen.hookAborted.length = 0;
    const { service } = client({ token: HANG_TOKEN });
    const started = performance.now();
    const error = await refusalOf(service.unaryCall({}));
    expect(performance.now() - started).toBeGreaterThanOrEqual(AUTH_TIMEOUT_MS - 20);
    expect(error.code).toBe(Code.Unavailable);
    expect(error.rawMessage).toBe(`authentication did not finish within ${AUTH_TIMEOUT_MS} ms`);
    expect((await probeUpgrade(url, { protocols: [SUBPROTOCOL, bearerSubprotocol(HANG_TOKEN)] })).status).toBe(503);
    expect(seen.hookAborted).toHaveLength(2);
    await until(() => serverSockets.size === 0, "the server to close every socket it answered");
    expect(bridge.connections).toBe(0);
  });

  it("a client that goes away during the hook aborts it and its socket is released", async () => {
    seen.hookAborted.length = 0;
    const { transport } = client({ token: HANG_TOKEN });
    const connecting = transport.connect().catch(() => undefined);
    await until(
      () => seen.hook.at(-1)?.token === HANG_TOKEN && seen.hookAborted.length === 0 && serverSockets.size > 0,
      "the hook to run",
    );
    await transport.close();
    await connecting;
    await until(() => seen.hookAborted.length === 1, "the hook's signal to abort");
    await until(() => serverSockets.size === 0, "the socket to be released");
  });
});

describe("logs", () => {
  it("no token appears in anything the bridge reported or wrote to the console", () => {
    const written = JSON.stringify([
      warn.mock.calls,
      seen.refused.map((r) => ({ ...r, error: String(r.error) })),
      seen.ended,
      seen.handler,
    ]);
    for (const token of [ALICE_TOKEN, FORBIDDEN_TOKEN, THROW_TOKEN, HANG_TOKEN]) {
      expect(written).not.toContain(token);
      expect(written).not.toContain(bearerSubprotocol(token));
    }
    // The refusals above were reported (the check looked at something).
    expect(seen.refused.length).toBeGreaterThan(0);
  });
});

describe("edge cases of the hook", () => {
  it("an error returned instead of thrown still refuses", async () => {
    const b = createWebSocketBridge({
      authenticate: () => new ConnectError("returned, not thrown", Code.PermissionDenied) as never,
      onRefused: () => undefined,
    });
    try {
      const { url: u } = await b.listen();
      const probe = await probeUpgrade(u);
      expect(probe.status).toBe(403);
      expect(probe.headers["grpc-message"]).toBe("returned, not thrown");
      expect(b.connections).toBe(0);
    } finally {
      await b.close({ drainTimeoutMs: 50 });
    }
  });

  it("close() answers an upgrade still authenticating with 503 at once and aborts the hook", async () => {
    let started = false;
    let aborted = false;
    const b = createWebSocketBridge({
      authenticateTimeoutMs: 60_000,
      onRefused: () => undefined,
      authenticate: (req) =>
        new Promise((_resolve, reject) => {
          started = true;
          req.signal.addEventListener("abort", () => {
            aborted = true;
            reject(req.signal.reason);
          });
        }),
    });
    const { url: u } = await b.listen();
    // The probe gives up after 10 s, far below the hook's 60 s limit: only close() can answer it.
    const probe = probeUpgrade(u);
    await until(() => started, "the hook to start");
    await b.close({ drainTimeoutMs: 50 });
    expect((await probe).status).toBe(503);
    expect(aborted).toBe(true);
  });
});

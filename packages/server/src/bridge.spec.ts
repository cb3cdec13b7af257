import { createServer, type Server } from "node:http";
import { create, fromBinary, toBinary, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextKey, createContextValues, type HandlerContext } from "@connectrpc/connect";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import { createTestServiceImpl, type TestServiceMethodName } from "@grpc-ws/interop";
import { CloseCode, ErrorCode, FrameType, PATH, SUBPROTOCOL, Status, writeMetadataFrame } from "@grpc-ws/wire";
import { encodeBase64, metadataToHeaders } from "@grpc-ws/wire/internal";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import { EmptySchema } from "../../../gen/grpc/testing/empty_pb.js";
import {
  SimpleRequestSchema,
  SimpleResponseSchema,
  StreamingInputCallRequestSchema,
  StreamingInputCallResponseSchema,
  StreamingOutputCallRequestSchema,
  StreamingOutputCallResponseSchema,
} from "../../../gen/grpc/testing/messages_pb.js";
import { ReconnectService, TestService } from "../../../gen/grpc/testing/test_pb.js";
import { createWebSocketBridge, type CallEndInfo, type WebSocketBridge } from "./index.js";
import { RawPeer, TestClient, frameTypes, until } from "./test-client.test-util.js";

const TS = "/grpc.testing.TestService";

function encode<D extends DescMessage>(schema: D, init: MessageInitShape<D>): Uint8Array {
  return toBinary(schema, create(schema, init));
}

/** Handler lifecycle as the interop service's observer reports it. */
class Observed {
  started: Array<{ method: TestServiceMethodName; ctx: HandlerContext }> = [];
  aborted: Array<{ method: TestServiceMethodName; reason: unknown }> = [];
  clear(): void {
    this.started = [];
    this.aborted = [];
  }
}

const observed = new Observed();
const ended: CallEndInfo[] = [];
let bridge: WebSocketBridge;
let url: string;
const clients: Array<TestClient | RawPeer> = [];
/** Every bridge that outlives a test: afterEach waits until the server side saw each socket close. */
const bridges: WebSocketBridge[] = [];

async function connect(settings?: Parameters<typeof TestClient.connect>[1], at = url): Promise<TestClient> {
  const c = await TestClient.connect(at, settings);
  clients.push(c);
  return c;
}

beforeAll(async () => {
  bridge = createWebSocketBridge({
    routes(router) {
      router.service(
        TestService,
        createTestServiceImpl({
          onStart: (method, ctx) => observed.started.push({ method, ctx }),
          onAbort: (method, reason) => observed.aborted.push({ method, reason }),
        }),
      );
      // Errors with details and metadata, and an error that is not a ConnectError.
      router.rpc(ReconnectService.method.start, () => {
        const error = new ConnectError("with details", Code.FailedPrecondition, { "x-error-meta": "m1" });
        error.details.push({ desc: SimpleResponseSchema, value: { username: "detail-user" } });
        throw error;
      });
      router.rpc(ReconnectService.method.stop, () => {
        throw new Error("secret internal state at /home/app/db.ts:42");
      });
    },
    keepalive: false,
    onCallEnd: (info) => ended.push(info),
  });
  ({ url } = await bridge.listen({ path: "/grpc" }));
  bridges.push(bridge);
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  // Handlers aborted by those closes must not show up in the next test.
  await until(() => bridges.every((b) => b.connections === 0), "the bridges to see every socket close");
  observed.clear();
});

afterAll(async () => {
  await bridge.close({ drainTimeoutMs: 100 });
});

describe("connection", () => {
  test("the server's first frame is SETTINGS", async () => {
    const client = await connect();
    expect(client.firstMessage).toBeDefined();
    expect(frameTypes(client.firstMessage!)[0]).toBe(FrameType.SETTINGS);
    expect(client.session.peer?.maxConcurrentStreams).toBe(100);
    expect(bridge.connections).toBeGreaterThanOrEqual(1);
  });

  test("an upgrade without the grpc-ws subprotocol is rejected with 400 and a clear body", async () => {
    const ws = new WebSocket(url);
    const response = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      ws.on("unexpected-response", (_req, res) => {
        let body = "";
        res.on("data", (chunk: Buffer) => (body += chunk.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      ws.on("open", () => reject(new Error("the upgrade was accepted")));
      ws.on("error", () => undefined);
    });
    expect(response.status).toBe(400);
    expect(response.body).toContain(SUBPROTOCOL);
  });

  test("a malformed frame gets GOAWAY and close 1002, and the bridge keeps serving", async () => {
    const peer = await RawPeer.connect(url);
    clients.push(peer);
    peer.settings();
    // Frame type 0x3f does not exist.
    peer.ws.send(new Uint8Array([0, 0, 0, 0x3f, 0, 0, 0, 0, 1]));
    const closed = await peer.closed;
    expect(closed.code).toBe(CloseCode.PROTOCOL_ERROR);
    const goAway = peer.frames.find((f) => f.type === FrameType.GOAWAY);
    expect(goAway).toBeDefined();
    expect(new DataView(goAway!.payload.buffer).getUint32(4)).toBe(ErrorCode.PROTOCOL_ERROR);

    const client = await connect();
    const call = client.call(`${TS}/EmptyCall`, [new Uint8Array(0)]);
    expect((await call.done).status?.code).toBe(Status.OK);
  });

  test("a first frame other than SETTINGS is a protocol error", async () => {
    const peer = await RawPeer.connect(url);
    clients.push(peer);
    peer.openStream(1, `${TS}/EmptyCall`, true);
    expect((await peer.closed).code).toBe(CloseCode.PROTOCOL_ERROR);
  });

  test("a text message closes the connection with 1003", async () => {
    const peer = await RawPeer.connect(url);
    clients.push(peer);
    peer.ws.send("hello");
    expect((await peer.closed).code).toBe(1003);
  });
});

describe("the four call kinds through grpc.testing.TestService", () => {
  test("unary: response, echoed metadata in headers and trailers", async () => {
    const client = await connect();
    const call = client.call(
      `${TS}/UnaryCall`,
      [encode(SimpleRequestSchema, { responseSize: 10, payload: { body: new Uint8Array(5) } })],
      {
        metadata: [
          ["x-grpc-test-echo-initial", "hello"],
          ["x-grpc-test-echo-trailing-bin", new Uint8Array([0xab, 0, 0xff])],
        ],
      },
    );
    const outcome = await call.done;
    expect(outcome.status?.code).toBe(Status.OK);
    expect(outcome.headers).toContainEqual(["x-grpc-test-echo-initial", "hello"]);
    expect(outcome.status?.metadata).toContainEqual(["x-grpc-test-echo-trailing-bin", new Uint8Array([0xab, 0, 0xff])]);
    expect(outcome.messages).toHaveLength(1);
    expect(fromBinary(SimpleResponseSchema, outcome.messages[0]!).payload?.body.length).toBe(10);
    expect(ended.some((e) => e.method === `${TS}/UnaryCall` && e.code === Status.OK && !e.forwarded)).toBe(true);
  });

  test("server streaming: one response per parameter", async () => {
    const client = await connect();
    const sizes = [31415, 9, 2653, 58979];
    const call = client.call(`${TS}/StreamingOutputCall`, [
      encode(StreamingOutputCallRequestSchema, { responseParameters: sizes.map((size) => ({ size })) }),
    ]);
    const outcome = await call.done;
    expect(outcome.status?.code).toBe(Status.OK);
    expect(outcome.messages.map((m) => fromBinary(StreamingOutputCallResponseSchema, m).payload?.body.length)).toEqual(
      sizes,
    );
  });

  test("client streaming: the handler sees every request", async () => {
    const client = await connect();
    const sizes = [27182, 8, 1828, 45904];
    const call = client.call(
      `${TS}/StreamingInputCall`,
      sizes.map((n) => encode(StreamingInputCallRequestSchema, { payload: { body: new Uint8Array(n) } })),
    );
    const outcome = await call.done;
    expect(outcome.status?.code).toBe(Status.OK);
    expect(fromBinary(StreamingInputCallResponseSchema, outcome.messages[0]!).aggregatedPayloadSize).toBe(74922);
  });

  test("bidi: ping-pong, one response per request before the next is sent", async () => {
    const client = await connect();
    const sizes = [31415, 9, 2653, 58979];
    const call = client.call(`${TS}/FullDuplexCall`, [], { end: false });
    for (let i = 0; i < sizes.length; i++) {
      call.stream.write(encode(StreamingOutputCallRequestSchema, { responseParameters: [{ size: sizes[i]! }] }));
      await call.messages(i + 1);
      expect(call.outcome.messages).toHaveLength(i + 1);
    }
    call.stream.halfClose();
    const outcome = await call.done;
    expect(outcome.status?.code).toBe(Status.OK);
    expect(outcome.messages.map((m) => fromBinary(StreamingOutputCallResponseSchema, m).payload?.body.length)).toEqual(
      sizes,
    );
  });

  test("empty stream: bidi with no requests ends OK with no responses", async () => {
    const client = await connect();
    const outcome = await client.call(`${TS}/FullDuplexCall`, []).done;
    expect(outcome.status?.code).toBe(Status.OK);
    expect(outcome.messages).toHaveLength(0);
  });
});

describe("errors", () => {
  test("a ConnectError from a handler becomes trailers-only code and message (any Unicode survives)", async () => {
    const client = await connect();
    const message = "\t\ntest with whitespace\r\nand Unicode BMP \u263A and non-BMP \u{1F608}\t\n";
    const call = client.call(`${TS}/UnaryCall`, [
      encode(SimpleRequestSchema, { responseStatus: { code: 2, message } }),
    ]);
    const outcome = await call.done;
    expect(outcome.headers).toBeUndefined();
    expect(outcome.status?.code).toBe(Status.UNKNOWN);
    expect(outcome.status?.message).toBe(message);
  });

  test("error details travel as grpc-status-details-bin, error metadata as trailers", async () => {
    const client = await connect();
    const outcome = await client.call("/grpc.testing.ReconnectService/Start", [new Uint8Array(0)]).done;
    expect(outcome.status?.code).toBe(Status.FAILED_PRECONDITION);
    expect(outcome.status?.message).toBe("with details");
    expect(outcome.status?.metadata).toContainEqual(["x-error-meta", "m1"]);
    // Decoded the way Connect's own gRPC client does.
    const error = findTrailerError(metadataToHeaders(outcome.trailers!));
    expect(error?.code).toBe(Code.FailedPrecondition);
    expect(error?.findDetails(SimpleResponseSchema).map((d) => d.username)).toEqual(["detail-user"]);
  });

  test("any other error becomes UNKNOWN with a generic message; the original reaches onCallEnd only", async () => {
    const client = await connect();
    const outcome = await client.call("/grpc.testing.ReconnectService/Stop", [new Uint8Array(0)]).done;
    expect(outcome.status?.code).toBe(Status.UNKNOWN);
    expect(outcome.status?.message).not.toContain("secret");
    expect(
      JSON.stringify(outcome.trailers, (_k, v: unknown) => (v instanceof Uint8Array ? encodeBase64(v) : v)),
    ).not.toContain("db.ts");
    const info = ended.find((e) => e.method === "/grpc.testing.ReconnectService/Stop");
    expect((info?.error as Error | undefined)?.message).toContain("secret");
  });

  test("unknown method, unknown service and unimplemented method are UNIMPLEMENTED", async () => {
    const client = await connect();
    const [method, service, unimplemented, malformed] = await Promise.all(
      [
        `${TS}/NoSuchMethod`,
        "/grpc.testing.UnimplementedService/UnimplementedCall",
        `${TS}/UnimplementedMethod`,
        "/nonsense",
      ].map((p) => client.call(p, [new Uint8Array(0)]).done),
    );
    expect(method!.status).toMatchObject({
      code: Status.UNIMPLEMENTED,
      message: "unknown method NoSuchMethod for service grpc.testing.TestService",
    });
    expect(service!.status).toMatchObject({
      code: Status.UNIMPLEMENTED,
      message: "unknown service grpc.testing.UnimplementedService",
    });
    expect(unimplemented!.status).toMatchObject({
      code: Status.UNIMPLEMENTED,
      message: "grpc.testing.TestService.UnimplementedMethod is not implemented",
    });
    expect(malformed!.status?.code).toBe(Status.UNIMPLEMENTED);
  });

  test("a malformed request message is INTERNAL", async () => {
    const client = await connect();
    // Field 1 as a length-delimited value that runs past the end.
    const outcome = await client.call(`${TS}/UnaryCall`, [new Uint8Array([0x0a, 0x50, 0x01])]).done;
    expect(outcome.status?.code).toBe(Status.INTERNAL);
    expect(outcome.status?.message).toContain("failed to parse the request message");
  });

  test("a unary call with two request messages is INTERNAL", async () => {
    const client = await connect();
    const outcome = await client.call(`${TS}/EmptyCall`, [new Uint8Array(0), new Uint8Array(0)]).done;
    expect(outcome.status?.code).toBe(Status.INTERNAL);
  });

  test("an invalid grpc-timeout is INVALID_ARGUMENT", async () => {
    const client = await connect();
    const outcome = await client.call(`${TS}/EmptyCall`, [new Uint8Array(0)], { metadata: [["grpc-timeout", "soon"]] })
      .done;
    expect(outcome.status?.code).toBe(Status.INVALID_ARGUMENT);
    expect(outcome.status?.message).toContain("grpc-timeout");
  });
});

describe("cancellation", () => {
  test("deadline: DEADLINE_EXCEEDED to the client and the handler's signal aborts", async () => {
    const client = await connect();
    const call = client.call(`${TS}/FullDuplexCall`, [], { end: false, timeoutMs: 100 });
    const outcome = await call.done;
    expect(outcome.status?.code).toBe(Status.DEADLINE_EXCEEDED);
    await until(() => observed.aborted.length === 1, "the handler's signal to abort");
    expect(observed.aborted[0]).toMatchObject({ method: "FullDuplexCall" });
    expect(ConnectError.from(observed.aborted[0]!.reason).code).toBe(Code.DeadlineExceeded);
  });

  test("the handler sees the remaining time in ctx.timeoutMs()", async () => {
    const client = await connect();
    const call = client.call(`${TS}/FullDuplexCall`, [], { end: false, timeoutMs: 20_000 });
    await until(() => observed.started.length === 1, "the handler to start");
    const left = observed.started[0]!.ctx.timeoutMs();
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThanOrEqual(20_000);
    expect(observed.started[0]!.ctx.protocolName).toBe("grpc-ws");
    call.stream.halfClose();
    expect((await call.done).status?.code).toBe(Status.OK);
  });

  test("RST_STREAM from the client aborts the handler's signal", async () => {
    const client = await connect();
    const call = client.call(`${TS}/FullDuplexCall`, [], { end: false });
    await until(() => observed.started.length === 1, "the handler to start");
    call.stream.reset(ErrorCode.CANCEL);
    await until(() => observed.aborted.length === 1, "the handler's signal to abort");
    expect(ConnectError.from(observed.aborted[0]!.reason).code).toBe(Code.Canceled);
    await until(() => ended.some((e) => e.code === Status.CANCELLED), "onCallEnd to report CANCELLED");
  });

  test("losing the connection aborts every handler on it", async () => {
    const client = await connect();
    const before = bridge.connections;
    for (let i = 0; i < 3; i++) client.call(`${TS}/FullDuplexCall`, [], { end: false });
    client.call(`${TS}/StreamingInputCall`, [], { end: false });
    await until(() => observed.started.length === 4, "four handlers to start");
    client.ws.terminate();
    await until(() => observed.aborted.length === 4, "every handler's signal to abort");
    await until(() => bridge.connections === before - 1, "the bridge to drop the connection");
  });
});

describe("limits", () => {
  let limited: WebSocketBridge;
  let limitedUrl: string;
  beforeAll(async () => {
    limited = createWebSocketBridge({
      routes: (router) =>
        router.service(
          TestService,
          createTestServiceImpl({
            onStart: (method, ctx) => observed.started.push({ method, ctx }),
            onAbort: (method, reason) => observed.aborted.push({ method, reason }),
          }),
        ),
      settings: { maxConcurrentStreams: 2, maxMessageSize: 1024 },
      keepalive: false,
    });
    ({ url: limitedUrl } = await limited.listen());
    bridges.push(limited);
  });
  afterAll(() => limited.close({ drainTimeoutMs: 100 }));

  test("a stream beyond maxConcurrentStreams is refused with REFUSED_STREAM", async () => {
    const peer = await RawPeer.connect(limitedUrl);
    clients.push(peer);
    peer.settings();
    // All three in one WebSocket message, so neither of the first two can end before the third arrives.
    peer.send((w) => {
      for (const id of [1, 3, 5]) writeMetadataFrame(w, FrameType.HEADERS, id, [[PATH, `${TS}/FullDuplexCall`]]);
    });
    await until(() => peer.frames.some((f) => f.type === FrameType.RST_STREAM), "RST_STREAM");
    const rst = peer.frames.filter((f) => f.type === FrameType.RST_STREAM);
    expect(rst).toHaveLength(1);
    expect(rst[0]!.streamId).toBe(5);
    expect(new DataView(rst[0]!.payload.buffer).getUint32(0)).toBe(ErrorCode.REFUSED_STREAM);
  });

  test("an oversize request message: RESOURCE_EXHAUSTED and the handler's signal aborts", async () => {
    const client = await connect(undefined, limitedUrl);
    const call = client.call(`${TS}/FullDuplexCall`, [], { end: false });
    call.stream.write(encode(StreamingOutputCallRequestSchema, { responseParameters: [{ size: 1 }] }));
    await call.messages(1);
    call.stream.write(encode(StreamingOutputCallRequestSchema, { payload: { body: new Uint8Array(2000) } }));
    const outcome = await call.done;
    expect(outcome.status?.code).toBe(Status.RESOURCE_EXHAUSTED);
    await until(() => observed.aborted.length === 1, "the handler's signal to abort");
    expect(observed.aborted.map((a) => ConnectError.from(a.reason).code)).toEqual([Code.ResourceExhausted]);
  });

  test("a response larger than the client's maxMessageSize is RESOURCE_EXHAUSTED", async () => {
    const client = await connect({ maxMessageSize: 1000 }, limitedUrl);
    const outcome = await client.call(`${TS}/UnaryCall`, [encode(SimpleRequestSchema, { responseSize: 5000 })]).done;
    expect(outcome.messages).toHaveLength(0);
    expect(outcome.status?.code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(outcome.status?.message).toContain("1000");
  });
});

describe("mounting", () => {
  let server: Server;
  let other: WebSocketServer;
  let mounted: WebSocketBridge;
  let base: string;
  beforeAll(async () => {
    server = createServer();
    other = new WebSocketServer({ noServer: true });
    other.on("connection", (ws) => ws.on("message", (m: Buffer) => ws.send(`echo:${m.toString()}`)));
    server.on("upgrade", (req, socket, head) => {
      if (req.url === "/other") other.handleUpgrade(req, socket, head, (ws) => other.emit("connection", ws, req));
    });
    mounted = createWebSocketBridge({
      routes: (r) => r.service(TestService, createTestServiceImpl()),
      keepalive: false,
    });
    mounted.attach(server, { path: "/grpc" });
    bridges.push(mounted);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    base = `ws://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  });
  afterAll(async () => {
    await mounted.close({ drainTimeoutMs: 100 });
    await new Promise<void>((resolve) => other.close(() => resolve()));
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test("attach() serves its path and leaves other upgrade paths to their own listeners", async () => {
    const ws = new WebSocket(`${base}/other`, ["some-other-protocol"]);
    const reply = await new Promise<string>((resolve, reject) => {
      ws.on("open", () => ws.send("hi"));
      ws.on("message", (m: Buffer) => resolve(m.toString()));
      ws.on("error", reject);
    });
    expect(reply).toBe("echo:hi");
    ws.close();

    const client = await connect(undefined, `${base}/grpc?token=1`);
    expect((await client.call(`${TS}/EmptyCall`, [encode(EmptySchema, {})]).done).status?.code).toBe(Status.OK);
    expect(mounted.connections).toBe(1);
  });
});

describe("graceful close", () => {
  test("close() sends GOAWAY, lets in-flight calls finish, then closes the sockets", async () => {
    const draining = createWebSocketBridge({
      routes: (r) => r.service(TestService, createTestServiceImpl()),
      keepalive: false,
    });
    const { url: drainUrl } = await draining.listen();
    const client = await connect(undefined, drainUrl);
    const call = client.call(`${TS}/FullDuplexCall`, [], { end: false });
    call.stream.write(encode(StreamingOutputCallRequestSchema, { responseParameters: [{ size: 3 }] }));
    await call.messages(1);

    const closing = draining.close({ drainTimeoutMs: 10_000 });
    await until(() => client.session.draining, "GOAWAY to reach the client");
    expect(client.session.canOpenStream).toBe(false);
    // The call in flight goes on.
    call.stream.write(encode(StreamingOutputCallRequestSchema, { responseParameters: [{ size: 4 }] }));
    await call.messages(2);
    call.stream.halfClose();
    expect((await call.done).status?.code).toBe(Status.OK);
    await closing;
    expect((await client.closed).code).toBe(CloseCode.GOING_AWAY);
    expect(draining.connections).toBe(0);
  });

  test("after the drain timeout, calls still open are cancelled with UNAVAILABLE and their handlers abort", async () => {
    const aborted: TestServiceMethodName[] = [];
    let started = 0;
    const draining = createWebSocketBridge({
      routes: (r) =>
        r.service(TestService, createTestServiceImpl({ onStart: () => started++, onAbort: (m) => aborted.push(m) })),
      keepalive: false,
    });
    const { url: drainUrl } = await draining.listen();
    const client = await connect(undefined, drainUrl);
    const call = client.call(`${TS}/FullDuplexCall`, [], { end: false });
    await until(() => started === 1, "the handler to start");
    const closeStarted = Date.now();
    await draining.close({ drainTimeoutMs: 100 });
    expect(Date.now() - closeStarted).toBeLessThan(5000);
    const outcome = await call.done;
    expect(outcome.status?.code).toBe(Status.UNAVAILABLE);
    expect(aborted).toEqual(["FullDuplexCall"]);
  });
});

describe("handler context", () => {
  const userKey = createContextKey<string>("anonymous", { description: "user" });
  let contextual: WebSocketBridge;
  let contextualUrl: string;
  let seen: { url: string; user: string; bin: string | null; text: string | null } | undefined;
  beforeAll(async () => {
    contextual = createWebSocketBridge({
      routes(router) {
        router.rpc(TestService.method.emptyCall, (_req, ctx) => {
          seen = {
            url: ctx.url,
            user: ctx.values.get(userKey),
            bin: ctx.requestHeader.get("x-token-bin"),
            text: ctx.requestHeader.get("x-text"),
          };
          return {};
        });
        router.rpc(TestService.method.streamingOutputCall, async function* (req, ctx) {
          ctx.responseHeader.set("x-header", "h");
          ctx.responseTrailer.set("x-trailer-bin", encodeBase64(new Uint8Array([1, 2])));
          for (const p of req.responseParameters) yield { payload: { body: new Uint8Array(p.size) } };
          if (req.responseStatus) throw new ConnectError(req.responseStatus.message, Code.Aborted);
        });
      },
      contextValues: (request) => createContextValues().set(userKey, String(request.headers["x-user"] ?? "none")),
      keepalive: false,
    });
    ({ url: contextualUrl } = await contextual.listen());
    bridges.push(contextual);
  });
  afterAll(() => contextual.close({ drainTimeoutMs: 100 }));

  test("request metadata, context values from the upgrade request, and the URL reach the handler", async () => {
    const client = await TestClient.connect(contextualUrl, undefined, { "x-user": "alice" });
    clients.push(client);
    const outcome = await client.call(`${TS}/EmptyCall`, [new Uint8Array(0)], {
      metadata: [
        ["x-token-bin", new Uint8Array([0xde, 0xad])],
        ["x-text", "plain"],
      ],
    }).done;
    expect(outcome.status?.code).toBe(Status.OK);
    expect(seen?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/grpc\.testing\.TestService\/EmptyCall$/);
    expect(seen?.user).toBe("alice");
    expect(seen?.bin).toBe(encodeBase64(new Uint8Array([0xde, 0xad])));
    expect(seen?.text).toBe("plain");
  });

  test("response headers before the first message; an error after messages keeps them and the trailers", async () => {
    const client = await connect(undefined, contextualUrl);
    const ok = await client.call(`${TS}/StreamingOutputCall`, [
      encode(StreamingOutputCallRequestSchema, { responseParameters: [{ size: 1 }, { size: 2 }] }),
    ]).done;
    expect(ok.headers).toEqual([["x-header", "h"]]);
    expect(ok.messages).toHaveLength(2);
    expect(ok.status).toMatchObject({ code: Status.OK, metadata: [["x-trailer-bin", new Uint8Array([1, 2])]] });

    const failed = await client.call(`${TS}/StreamingOutputCall`, [
      encode(StreamingOutputCallRequestSchema, {
        responseParameters: [{ size: 1 }],
        responseStatus: { code: 10, message: "stop" },
      }),
    ]).done;
    expect(failed.headers).toEqual([["x-header", "h"]]);
    expect(failed.messages).toHaveLength(1);
    expect(failed.status).toMatchObject({
      code: Status.ABORTED,
      message: "stop",
      metadata: [["x-trailer-bin", new Uint8Array([1, 2])]],
    });
  });
});

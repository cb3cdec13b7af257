// Per-message compression on grpc-ws v1 (docs/PROTOCOL.md appendix B) for in-process calls, with
// a raw wire client: gzip requests are inflated for the handler, responses are compressed when
// the client accepts gzip, the limit applies to the inflated size.
import * as zlib from "node:zlib";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Status } from "@grpc-ws/wire";
import { startGrpcJsTestServer, testServiceImpl, type GrpcJsTestServer } from "@grpc-ws/interop";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SimpleRequestSchema, SimpleResponseSchema } from "../../../gen/grpc/testing/messages_pb.js";
import { TestService } from "../../../gen/grpc/testing/test_pb.js";
import { maxRssBytes, zipBomb } from "../../wire/src/zip-bomb.test-util.js";
import { createWebSocketBridge, type WebSocketBridge } from "./index.js";
import { TestClient } from "./test-client.test-util.js";

const UNARY = "/grpc.testing.TestService/UnaryCall";
const GZIP: Array<[string, string]> = [
  ["grpc-encoding", "gzip"],
  ["grpc-accept-encoding", "gzip"],
];

describe("per-message compression over grpc-ws v1, in-process handlers", () => {
  let bridge: WebSocketBridge;
  let client: TestClient;

  beforeAll(async () => {
    // 2 MiB: the 1 MB zip bomb below fits compressed, and not inflated.
    bridge = createWebSocketBridge({
      routes: (r) => r.service(TestService, testServiceImpl),
      settings: { maxMessageSize: 2 << 20 },
    });
    client = await TestClient.connect((await bridge.listen()).url);
  });
  afterAll(async () => {
    await client?.close();
    await bridge?.close({ drainTimeoutMs: 50 });
  });

  const request = (init: Parameters<typeof create<typeof SimpleRequestSchema>>[1]) =>
    toBinary(SimpleRequestSchema, create(SimpleRequestSchema, init));

  it("a gzip request reaches the handler inflated; the response comes back gzip", async () => {
    const t = client.call(UNARY, [], { metadata: GZIP, end: false });
    t.stream.acceptCompressed();
    t.stream.write(
      zlib.gzipSync(
        request({ responseSize: 314159, payload: { body: new Uint8Array(271828) }, expectCompressed: { value: true } }),
      ),
      true,
    );
    t.stream.halfClose();
    const out = await t.done;
    expect(out.status?.code).toBe(Status.OK);
    expect(out.headers?.find(([n]) => n === "grpc-encoding")?.[1]).toBe("gzip");
    expect(out.messages).toHaveLength(1);
    expect(t.stream.lastReadCompressed).toBe(true);
    expect(out.messages[0]!.length).toBeLessThan(10_000);
    expect(fromBinary(SimpleResponseSchema, zlib.gunzipSync(out.messages[0]!)).payload?.body.length).toBe(314159);
  });

  it("without grpc-accept-encoding the response stays uncompressed", async () => {
    const t = client.call(UNARY, [], { metadata: [["grpc-encoding", "gzip"]], end: false });
    t.stream.write(zlib.gzipSync(request({ responseSize: 5000 })), true);
    t.stream.halfClose();
    const out = await t.done;
    expect(out.status?.code).toBe(Status.OK);
    expect(fromBinary(SimpleResponseSchema, out.messages[0]!).payload?.body.length).toBe(5000);
  });

  it("an unaccepted encoding is UNIMPLEMENTED with grpc-accept-encoding in the trailers", async () => {
    const out = await client.call(UNARY, [request({})], { metadata: [["grpc-encoding", "br"]] }).done;
    expect(out.status?.code).toBe(Status.UNIMPLEMENTED);
    expect(out.trailers?.find(([n]) => n === "grpc-accept-encoding")?.[1]).toBe("gzip");
  });

  it("a compressed message on a call without grpc-encoding is INTERNAL", async () => {
    const t = client.call(UNARY, [], { end: false });
    t.stream.write(zlib.gzipSync(request({})), true);
    t.stream.halfClose();
    expect((await t.done).status?.code).toBe(Status.INTERNAL);
  });

  it("a 1 GiB zip bomb in 1 MB gets RESOURCE_EXHAUSTED and is never inflated", async () => {
    const bomb = await zipBomb(1024);
    const before = maxRssBytes();
    const t = client.call(UNARY, [], { metadata: GZIP, end: false });
    t.stream.write(bomb, true);
    t.stream.halfClose();
    const out = await t.done;
    expect(out.status?.code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(out.status?.message).toContain("after decompression");
    expect(maxRssBytes() - before).toBeLessThan(256 << 20);
    // The connection is fine.
    expect((await client.call(UNARY, [request({ responseSize: 3 })]).done).status?.code).toBe(Status.OK);
  }, 30_000);
});

describe("per-message compression through the gateway to grpc-js", () => {
  let upstream: GrpcJsTestServer;
  let bridge: WebSocketBridge;
  let client: TestClient;

  beforeAll(async () => {
    upstream = await startGrpcJsTestServer();
    bridge = createWebSocketBridge({ upstream: upstream.baseUrl });
    client = await TestClient.connect((await bridge.listen()).url);
  });
  afterAll(async () => {
    await client?.close();
    await bridge?.close({ drainTimeoutMs: 50 });
    await upstream?.close();
  });

  it("a gzip request passes through untouched and grpc-js inflates it", async () => {
    upstream.clearEvents();
    const body = toBinary(
      SimpleRequestSchema,
      create(SimpleRequestSchema, { responseSize: 314159, payload: { body: new Uint8Array(271828) } }),
    );
    const t = client.call(UNARY, [], { metadata: GZIP, end: false });
    t.stream.acceptCompressed();
    const packed = zlib.gzipSync(body);
    t.stream.write(packed, true);
    t.stream.halfClose();
    const out = await t.done;
    expect(out.status?.code).toBe(Status.OK);
    // grpc-js does not compress responses: the bridge passes that on as identity.
    const bytes = t.stream.lastReadCompressed ? zlib.gunzipSync(out.messages[0]!) : out.messages[0]!;
    expect(fromBinary(SimpleResponseSchema, bytes).payload?.body.length).toBe(314159);
    expect(packed.length).toBeLessThan(1000);
  });

  it("an encoding grpc-js does not know gets its answer (UNIMPLEMENTED or INTERNAL), not a gateway error", async () => {
    const t = client.call(UNARY, [], { metadata: [["grpc-encoding", "snappy"]], end: false });
    t.stream.acceptCompressed();
    t.stream.write(new Uint8Array([1, 2, 3]), true);
    t.stream.halfClose();
    const out = await t.done;
    expect([Status.UNIMPLEMENTED, Status.INTERNAL]).toContain(out.status?.code);
    expect(out.status?.message).not.toContain("gateway");
  });
});

// grpc-websockets at the byte level (a raw ws client speaking docs/PROTOCOL.md appendix A), for
// what the two client libraries never send: malformed input and compressed messages (appendix B).
import * as zlib from "node:zlib";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { GRPC_WEBSOCKETS, GrpcWebReader, encodeClientData, type GrpcWebFrame, type Metadata } from "@grpc-ws/wire";
import { testServiceImpl } from "@grpc-ws/interop";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { SimpleRequestSchema, SimpleResponseSchema } from "../../../../../gen/grpc/testing/messages_pb.js";
import { TestService } from "../../../../../gen/grpc/testing/test_pb.js";
import { zipBomb } from "../../../../wire/src/zip-bomb.test-util.js";
import { createWebSocketBridge, type WebSocketBridge } from "../../index.js";

const UNARY = "/grpc.testing.TestService/UnaryCall";
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

interface Outcome {
  frames: GrpcWebFrame[];
  close: number;
}

/** One call: sends `messages` (raw socket messages after the upgrade), collects the response until the socket closes. */
function call(base: string, path: string, messages: Uint8Array[]): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base}${path}`, [GRPC_WEBSOCKETS]);
    const reader = new GrpcWebReader(64 << 20, 1 << 20);
    const frames: GrpcWebFrame[] = [];
    ws.on("open", () => {
      expect(ws.protocol).toBe(GRPC_WEBSOCKETS);
      for (const m of messages) ws.send(m);
    });
    ws.on("message", (data: Buffer) => reader.push(new Uint8Array(data), (f) => frames.push(f)));
    ws.on("close", (code) => resolve({ frames, close: code }));
    ws.on("error", reject);
  });
}

const metadataOf = (f: GrpcWebFrame | undefined): Metadata => (f?.type === "metadata" ? f.metadata : []);
const get = (m: Metadata, name: string): unknown => m.find(([n]) => n === name)?.[1];
function frame(message: Uint8Array, compressed = false): Uint8Array {
  const out = new Uint8Array(5 + message.length);
  out[0] = compressed ? 1 : 0;
  new DataView(out.buffer).setUint32(1, message.length);
  out.set(message, 5);
  return encodeClientData(out);
}
const END = Uint8Array.of(1);

describe("grpc-websockets at the byte level", () => {
  let bridge: WebSocketBridge;
  let base = "";

  beforeAll(async () => {
    bridge = createWebSocketBridge({
      routes: (r) => r.service(TestService, testServiceImpl),
      settings: { maxMessageSize: 1 << 20 },
    });
    base = `ws://127.0.0.1:${(await bridge.listen()).port}`;
  });
  afterAll(() => bridge?.close({ drainTimeoutMs: 50 }));

  const request = (init: Parameters<typeof create<typeof SimpleRequestSchema>>[1]) =>
    toBinary(SimpleRequestSchema, create(SimpleRequestSchema, init));

  it("applies the same access control as grpc-ws v1: a page of another origin gets 403 before any WebSocket exists", async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`${base}${UNARY}`, [GRPC_WEBSOCKETS], { headers: { origin: "https://evil.example" } });
      ws.on("unexpected-response", (_req, res) => {
        resolve(res.statusCode ?? 0);
        ws.terminate();
      });
      ws.on("open", () => reject(new Error("a cross-site grpc-websockets upgrade was accepted")));
      ws.on("error", () => undefined);
    });
    expect(status).toBe(403);
  });

  it("a malformed header block gets trailers-only INTERNAL and a clean close", async () => {
    const out = await call(base, UNARY, [text("no colon here\r\n")]);
    expect(out.close).toBe(1000);
    expect(out.frames).toHaveLength(1);
    expect(get(metadataOf(out.frames[0]), "grpc-status")).toBe("13");
    expect(String(get(metadataOf(out.frames[0]), "grpc-message"))).toContain('is not "name: value"');
  });

  it("an unknown message tag fails the call with INTERNAL", async () => {
    const out = await call(base, UNARY, [text(""), Uint8Array.of(7, 1, 2)]);
    expect(get(metadataOf(out.frames.at(-1)), "grpc-status")).toBe("13");
    expect(out.close).toBe(1000);
  });

  it("a URL that names no method is refused before the upgrade", async () => {
    const ws = new WebSocket(`${base}/not-a-method`, [GRPC_WEBSOCKETS]);
    const status = await new Promise<number>((resolve) => {
      ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
      ws.on("error", () => undefined);
    });
    expect(status).toBe(404);
  });

  it("a gzip request is inflated for the handler, and the response comes back gzip", async () => {
    const body = request({
      responseSize: 314159,
      payload: { body: new Uint8Array(271828) },
      expectCompressed: { value: true },
    });
    const out = await call(base, UNARY, [
      text("grpc-encoding: gzip\r\ngrpc-accept-encoding: gzip\r\n"),
      frame(zlib.gzipSync(body), true),
      END,
    ]);
    const [headers, message, trailers] = out.frames;
    expect(get(metadataOf(headers), "grpc-encoding")).toBe("gzip");
    expect(get(metadataOf(trailers), "grpc-status")).toBe("0");
    expect(message?.type === "message" && message.compressed).toBe(true);
    const plain = zlib.gunzipSync((message as { data: Uint8Array }).data);
    expect(fromBinary(SimpleResponseSchema, plain).payload?.body.length).toBe(314159);
    // Zeros compress well: far fewer bytes travelled than the message holds.
    expect((message as { data: Uint8Array }).data.length).toBeLessThan(10_000);
  });

  it("expect_compressed on an uncompressed request is INVALID_ARGUMENT (the interop probe)", async () => {
    const body = request({ responseSize: 1, expectCompressed: { value: true } });
    const out = await call(base, UNARY, [text(""), frame(body), END]);
    expect(get(metadataOf(out.frames.at(-1)), "grpc-status")).toBe("3");
  });

  it("an encoding the bridge does not accept is UNIMPLEMENTED, naming what it accepts", async () => {
    const out = await call(base, UNARY, [text("grpc-encoding: br\r\n"), frame(new Uint8Array(0), true), END]);
    const trailers = metadataOf(out.frames.at(-1));
    expect(get(trailers, "grpc-status")).toBe("12");
    expect(get(trailers, "grpc-accept-encoding")).toBe("gzip");
  });

  it("a compressed message without grpc-encoding is INTERNAL", async () => {
    const out = await call(base, UNARY, [text(""), frame(zlib.gzipSync(request({})), true), END]);
    expect(get(metadataOf(out.frames.at(-1)), "grpc-status")).toBe("13");
  });

  it("a zip bomb gets RESOURCE_EXHAUSTED: the limit is on the inflated size", async () => {
    const bomb = await zipBomb(64);
    expect(bomb.length).toBeLessThan(1 << 20);
    const out = await call(base, UNARY, [text("grpc-encoding: gzip\r\n"), frame(bomb, true), END]);
    const trailers = metadataOf(out.frames.at(-1));
    expect(get(trailers, "grpc-status")).toBe("8");
    expect(String(get(trailers, "grpc-message"))).toContain("after decompression");
  });
});

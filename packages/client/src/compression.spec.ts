// Per-message compression from the client's side (acceptCompression, sendCompression,
// compressMinBytes): a real bridge with in-process handlers on 127.0.0.1, or a raw server-role
// session for responses no correct server sends. Bytes on the wire are read from the trace lines.
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, createClient } from "@connectrpc/connect";
import {
  GRPC_ACCEPT_ENCODING,
  GRPC_ENCODING,
  Status,
  createTrailers,
  getMetadata,
  gzip,
  type Compression,
  type Metadata,
} from "@grpc-ws/wire";
import { createWebSocketBridge, type WebSocketBridgeOptions } from "@grpc-ws/server";
import { createTestServiceImpl, type TestServiceImpl } from "@grpc-ws/interop";
import { afterEach, describe, expect, it } from "vitest";
import { PayloadType, SimpleResponseSchema } from "../../../gen/grpc/testing/messages_pb.js";
import { TestService } from "../../../gen/grpc/testing/test_pb.js";
import { zipBomb } from "../../wire/src/zip-bomb.test-util.js";
import { serveSession, startRawServer } from "./client.test-util.js";
import { createWebSocketTransport, type WebSocketTransportOptions } from "./index.js";

const COMPRESSABLE = PayloadType.COMPRESSABLE;
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** DATA payload bytes the client sent (`>`) and received (`<`), from its trace. */
class WireCount {
  sent = 0;
  received = 0;
  readonly trace = (line: string): void => {
    const m = /^([<>]) DATA .*length=(\d+)/.exec(line);
    if (m?.[1] === ">") this.sent += Number(m[2]);
    else if (m?.[1] === "<") this.received += Number(m[2]);
  };
}

async function setup(
  options: Partial<WebSocketTransportOptions> = {},
  impl: Partial<TestServiceImpl> = {},
  bridgeOptions: Partial<WebSocketBridgeOptions> = {},
) {
  const bridge = createWebSocketBridge({
    ...bridgeOptions,
    routes: (r) => r.service(TestService, { ...createTestServiceImpl(), ...impl }),
  });
  const { url } = await bridge.listen({ port: 0 });
  const wire = new WireCount();
  const transport = createWebSocketTransport({ url, trace: wire.trace, ...options });
  cleanups.push(
    () => bridge.close({ drainTimeoutMs: 50 }),
    () => transport.close(),
  );
  return { client: createClient(TestService, transport), wire };
}

const zeros = (n: number) => new Uint8Array(n);

describe("client compression against the bridge (in-process handlers)", () => {
  it("sendCompression gzip: requests go compressed and flagged; the server sees grpc-encoding gzip", async () => {
    let encoding: string | null = null;
    const { client, wire } = await setup(
      { sendCompression: gzip },
      {
        unaryCall(req, ctx) {
          encoding = ctx.requestHeader.get("grpc-encoding");
          return { payload: { type: COMPRESSABLE, body: zeros(req.payload?.body.length ?? 0) } };
        },
      },
    );
    const res = await client.unaryCall({ payload: { body: zeros(64 * 1024) } });
    expect(res.payload?.body.length).toBe(64 * 1024);
    expect(encoding).toBe("gzip");
    // 64 KiB of zeros: a few hundred bytes gzip'd. Sent uncompressed they would not fit.
    expect(wire.sent).toBeLessThan(2000);
  });

  it("the test service's expect_compressed check passes for a compressed call and fails for a plain one", async () => {
    const compressed = await setup({ sendCompression: gzip });
    const req = { responseType: COMPRESSABLE, responseSize: 10, payload: { body: zeros(5000) } };
    await compressed.client.unaryCall({ ...req, expectCompressed: { value: true } });
    const plain = await setup();
    await expect(plain.client.unaryCall({ ...req, expectCompressed: { value: true } })).rejects.toMatchObject({
      code: Code.InvalidArgument,
    });
  });

  it("a request below compressMinBytes goes uncompressed; compressMinBytes 0 compresses it", async () => {
    const small = { payload: { body: zeros(500) } };
    const plain = await setup({ sendCompression: gzip });
    await plain.client.unaryCall(small);
    expect(plain.wire.sent).toBeGreaterThanOrEqual(500);
    const all = await setup({ sendCompression: gzip, compressMinBytes: 0 });
    await all.client.unaryCall(small);
    expect(all.wire.sent).toBeLessThan(100);
  });

  it("acceptCompression [gzip] gets gzip responses inflated; by default they come uncompressed", async () => {
    const req = { responseType: COMPRESSABLE, responseSize: 314159 };
    const accepting = await setup({ acceptCompression: [gzip] });
    const res = await accepting.client.unaryCall(req);
    expect(res.payload?.body.length).toBe(314159);
    expect(res.payload?.body.every((b) => b === 0)).toBe(true);
    expect(accepting.wire.received).toBeLessThan(5000);

    for (const refusing of [await setup(), await setup({ acceptCompression: [] })]) {
      expect((await refusing.client.unaryCall(req)).payload?.body.length).toBe(314159);
      expect(refusing.wire.received).toBeGreaterThan(314159);
    }
  });

  it("the request headers carry grpc-encoding and grpc-accept-encoding as configured", async () => {
    const seen: Array<[string | null, string | null]> = [];
    const impl: Partial<TestServiceImpl> = {
      emptyCall(_req, ctx) {
        seen.push([ctx.requestHeader.get("grpc-encoding"), ctx.requestHeader.get("grpc-accept-encoding")]);
        return {};
      },
    };
    await (await setup({}, impl)).client.emptyCall({});
    await (await setup({ acceptCompression: [gzip] }, impl)).client.emptyCall({});
    await (await setup({ sendCompression: gzip, acceptCompression: [gzip] }, impl)).client.emptyCall({});
    expect(seen).toEqual([
      [null, null],
      [null, "gzip"],
      ["gzip", "gzip"],
    ]);
  });

  it("streams keep their order both ways with compressed and uncompressed messages mixed", async () => {
    // Sizes alternate around compressMinBytes (1024): some messages compress, some go straight on.
    const sizes = [2000, 10, 50_000, 0, 1024, 1023, 70_000, 3, 4096, 1];
    const received: number[] = [];
    const { client } = await setup(
      { sendCompression: gzip, acceptCompression: [gzip] },
      {
        async *fullDuplexCall(requests) {
          for await (const req of requests) {
            received.push(req.payload?.body.length ?? -1);
            yield { payload: { type: COMPRESSABLE, body: zeros(req.responseParameters[0]?.size ?? 0) } };
          }
        },
      },
    );
    async function* requests() {
      for (const [i, size] of sizes.entries())
        yield { payload: { body: zeros(size) }, responseParameters: [{ size: sizes[sizes.length - 1 - i]! }] };
    }
    const out: number[] = [];
    for await (const res of client.fullDuplexCall(requests())) out.push(res.payload?.body.length ?? -1);
    expect(received).toEqual(sizes);
    expect(out).toEqual([...sizes].reverse());
  });

  it("a status that follows compressed messages comes after all of them", async () => {
    const { client } = await setup({ acceptCompression: [gzip] });
    const out: number[] = [];
    const call = async () => {
      for await (const res of client.streamingOutputCall({
        responseType: COMPRESSABLE,
        responseParameters: [{ size: 200_000 }, { size: 5 }, { size: 300_000 }],
        responseStatus: { code: Code.DataLoss, message: "after three" },
      }))
        out.push(res.payload?.body.length ?? -1);
    };
    await expect(call()).rejects.toMatchObject({ code: Code.DataLoss, rawMessage: "after three" });
    expect(out).toEqual([200_000, 5, 300_000]);
  });

  it("a consumer that reads after the status arrived still gets every compressed message first", async () => {
    const { client } = await setup({ acceptCompression: [gzip] });
    const sizes = [100_000, 100_001, 100_002, 100_003, 100_004, 100_005];
    const it = client
      .streamingOutputCall({
        responseType: COMPRESSABLE,
        responseParameters: sizes.map((size) => ({ size })),
        responseStatus: { code: Code.DataLoss, message: "after six" },
      })
      [Symbol.asyncIterator]();
    const out = [(await it.next()).value?.payload?.body.length];
    // The rest and the trailers arrive meanwhile and wait, compressed, in the stream.
    await new Promise((r) => setTimeout(r, 200));
    for (let i = 1; i < sizes.length; i++) out.push((await it.next()).value?.payload?.body.length);
    expect(out).toEqual(sizes);
    await expect(it.next()).rejects.toMatchObject({ code: Code.DataLoss });
  });

  it("a response that inflates past maxMessageSize fails ResourceExhausted, with the limit given to the decompressor", async () => {
    const bomb = await zipBomb(64);
    // A server that sends a zip bomb: its "gzip" compresses every response to 64 MiB of zeros.
    const bombing: Compression = { name: "gzip", compress: async () => bomb, decompress: gzip.decompress };
    const limits: number[] = [];
    const watched: Compression = {
      name: "gzip",
      compress: gzip.compress,
      decompress: (bytes, readMaxBytes) => {
        limits.push(readMaxBytes);
        return gzip.decompress(bytes, readMaxBytes);
      },
    };
    const { client } = await setup(
      { acceptCompression: [watched], maxMessageSize: 1 << 20 },
      {},
      { acceptCompression: [bombing] },
    );
    await expect(client.unaryCall({ responseType: COMPRESSABLE, responseSize: 2000 })).rejects.toMatchObject({
      code: Code.ResourceExhausted,
      rawMessage: expect.stringMatching(/after decompression/),
    });
    expect(limits).toEqual([1 << 20]);
    // The connection stays usable.
    expect((await client.unaryCall({ responseType: COMPRESSABLE, responseSize: 10 })).payload?.body.length).toBe(10);
  });

  it("rejects a bad compressMinBytes at creation", () => {
    expect(() => createWebSocketTransport({ url: "ws://127.0.0.1:1/", compressMinBytes: -1 })).toThrow(RangeError);
    expect(() => createWebSocketTransport({ url: "ws://127.0.0.1:1/", compressMinBytes: Number.NaN })).toThrow(
      RangeError,
    );
  });
});

describe("client compression against a raw server", () => {
  /** A server that answers every unary call with `headers`, one message with the compressed flag, and OK. */
  async function answering(headers: Metadata) {
    const response = toBinary(SimpleResponseSchema, create(SimpleResponseSchema, { payload: { body: zeros(3000) } }));
    const packed = await gzip.compress(response);
    const seen: Metadata[] = [];
    const server = await startRawServer((ws) => {
      serveSession(ws, {
        onStream(stream, _path, requestHeaders) {
          seen.push(requestHeaders);
          stream.events = {};
          stream.sendHeaders(headers);
          stream.write(packed, true);
          stream.sendTrailers(createTrailers(Status.OK, ""));
        },
      });
    });
    cleanups.push(() => server.close());
    const transport = createWebSocketTransport({ url: server.url, acceptCompression: [gzip] });
    cleanups.push(() => transport.close());
    return { client: createClient(TestService, transport), seen };
  }

  it("a gzip response the client accepted is inflated", async () => {
    const { client, seen } = await answering([[GRPC_ENCODING, "gzip"]]);
    expect((await client.unaryCall({})).payload?.body.length).toBe(3000);
    expect(getMetadata(seen[0]!, GRPC_ACCEPT_ENCODING)).toBe("gzip");
  });

  it("a message compressed with an encoding the client did not accept fails Internal", async () => {
    const { client } = await answering([[GRPC_ENCODING, "br"]]);
    await expect(client.unaryCall({})).rejects.toMatchObject({
      code: Code.Internal,
      rawMessage: expect.stringMatching(/"br", which this side does not accept/),
    });
  });

  it("a compressed message without grpc-encoding fails Internal", async () => {
    const { client } = await answering([]);
    await expect(client.unaryCall({})).rejects.toMatchObject({
      code: Code.Internal,
      rawMessage: expect.stringMatching(/no grpc-encoding/),
    });
  });
});

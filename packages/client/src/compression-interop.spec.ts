// The four compression cases of the grpc interop descriptions with the grpc-ws client:
// (a) to the bridge's in-process TestService, (b) through the gateway to a real grpc-js server,
// (b') through the gateway to connect-node's server, which compresses its responses, so the
// client inflates what the gateway passed through. The Chromium run is in browser.spec.ts.
import { compressionGzip } from "@connectrpc/connect-node";
import { createWebSocketBridge, type WebSocketBridgeOptions } from "@grpc-ws/server";
import {
  compressionCaseNames,
  compressionCases,
  startConnectNodeServer,
  startGrpcJsTestServer,
  testServiceImpl,
  type CompressionTransports,
  type ConnectNodeTestServer,
  type GrpcJsTestServer,
} from "@grpc-ws/interop";
import { gzip } from "@grpc-ws/wire";
import { Code, createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PayloadType } from "../../../gen/grpc/testing/messages_pb.js";
import { TestService } from "../../../gen/grpc/testing/test_pb.js";
import { createWebSocketTransport, type WebSocketTransport } from "./index.js";

/** DATA payload bytes on the client's side of the socket, both ways, from its trace. */
interface Counted {
  sent: number;
  received: number;
}

/** A bridge with `options` on 127.0.0.1, the two transports the cases take, and their byte counts. */
function useCompressionPath(options: () => WebSocketBridgeOptions | Promise<WebSocketBridgeOptions>) {
  let bridgeUrl = "";
  const path = {
    /** The bridge's URL, once beforeAll ran. */
    url: () => bridgeUrl,
    transports: {} as CompressionTransports,
    compressed: { sent: 0, received: 0 } as Counted,
    plain: { sent: 0, received: 0 } as Counted,
    reset() {
      for (const c of [path.compressed, path.plain]) c.sent = c.received = 0;
    },
  };
  let bridge: ReturnType<typeof createWebSocketBridge> | undefined;
  const opened: WebSocketTransport[] = [];
  const tracing = (counted: Counted) => (line: string) => {
    const m = /^([<>]) DATA .*length=(\d+)/.exec(line);
    if (m?.[1] === ">") counted.sent += Number(m[2]);
    else if (m?.[1] === "<") counted.received += Number(m[2]);
  };
  beforeAll(async () => {
    bridge = createWebSocketBridge(await options());
    const { url } = await bridge.listen({ port: 0 });
    bridgeUrl = url;
    const compressed = createWebSocketTransport({
      url,
      sendCompression: gzip,
      acceptCompression: [gzip],
      compressMinBytes: 0,
      trace: tracing(path.compressed),
    });
    const plain = createWebSocketTransport({ url, acceptCompression: [], trace: tracing(path.plain) });
    opened.push(compressed, plain);
    path.transports = { compressed, plain };
  });
  afterAll(async () => {
    for (const t of opened) await t.close();
    await bridge?.close({ drainTimeoutMs: 100 });
  });
  return path;
}

describe("compression cases, grpc-ws client -> bridge, in-process TestService", () => {
  const path = useCompressionPath(() => ({ routes: (r) => r.service(TestService, testServiceImpl) }));
  for (const name of compressionCaseNames) it(name, () => compressionCases[name](path.transports));

  it("the compressed transport's messages were compressed both ways", async () => {
    path.reset();
    await compressionCases.server_compressed_unary(path.transports);
    // Two calls of 271828 request and 314159 response zero bytes: gzip leaves a few hundred each,
    // except for the response the second call asked to get uncompressed (response_compressed false).
    expect(path.compressed.sent).toBeLessThan(10_000);
    expect(path.compressed.received).toBeGreaterThan(314159);
    expect(path.compressed.received).toBeLessThan(314159 + 10_000);
    path.reset();
    await compressionCases.client_compressed_unary(path.transports);
    // The plain transport's calls (the probe, the uncompressed request) went uncompressed.
    expect(path.plain.sent).toBeGreaterThan(2 * 271828);
    expect(path.plain.received).toBeGreaterThan(314159);
  });

  it("the in-process TestService checks each request message's flag and compresses responses as asked", async () => {
    const client = createClient(TestService, path.transports.compressed);
    const req = { responseType: PayloadType.COMPRESSABLE, responseSize: 314159 };
    path.reset();
    await client.unaryCall({ ...req, responseCompressed: { value: true } });
    expect(path.compressed.received).toBeLessThan(5_000);
    path.reset();
    await client.unaryCall({ ...req, responseCompressed: { value: false } });
    expect(path.compressed.received).toBeGreaterThan(314159);
    path.reset();
    const sizes: number[] = [];
    for await (const r of client.streamingOutputCall({
      ...req,
      responseParameters: [
        { size: 31415, compressed: { value: true } },
        { size: 92653, compressed: { value: false } },
      ],
    }))
      sizes.push(r.payload?.body.length ?? -1);
    expect(sizes).toEqual([31415, 92653]);
    // The second response went as it was, the first as a few hundred bytes.
    expect(path.compressed.received).toBeGreaterThan(92653);
    expect(path.compressed.received).toBeLessThan(92653 + 5_000);
  });
});

describe("the in-process TestService refuses a request message without the flag on a gzip call", () => {
  // sendCompression with the default compressMinBytes: a 10-byte request goes uncompressed.
  const path = useCompressionPath(() => ({ routes: (r) => r.service(TestService, testServiceImpl) }));
  it("expect_compressed on an uncompressed message of a gzip call is INVALID_ARGUMENT", async () => {
    const { url } = path;
    const transport = createWebSocketTransport({ url: url(), sendCompression: gzip });
    try {
      const client = createClient(TestService, transport);
      const small = { payload: { body: new Uint8Array(10) } };
      await expect(client.unaryCall({ ...small, expectCompressed: { value: true } })).rejects.toMatchObject({
        code: Code.InvalidArgument,
      });
      await client.unaryCall({ payload: { body: new Uint8Array(2000) }, expectCompressed: { value: true } });
    } finally {
      await transport.close();
    }
  });
});

describe("compression cases, grpc-ws client -> gateway -> grpc-js", () => {
  let upstream: GrpcJsTestServer;
  const path = useCompressionPath(async () => {
    upstream = await startGrpcJsTestServer();
    return { upstream: upstream.baseUrl };
  });
  afterAll(() => upstream?.close());

  // grpc-js strips grpc-encoding before its handlers run: the probes cannot be checked there.
  for (const name of compressionCaseNames)
    it(name, () => compressionCases[name]({ ...path.transports, serverSeesEncoding: false }));

  it("compressed requests went through the gateway to grpc-js as they were", async () => {
    path.reset();
    upstream.clearEvents();
    await compressionCases.client_compressed_streaming({ ...path.transports, serverSeesEncoding: false });
    expect(path.compressed.sent).toBeLessThan(5_000);
    expect(upstream.events.started).toEqual(["StreamingInputCall"]);
  });
});

describe("compression cases, grpc-ws client -> gateway -> connect-node (compresses responses)", () => {
  let server: ConnectNodeTestServer | undefined;
  const path = useCompressionPath(async () => {
    server = await startConnectNodeServer({
      routes: (router) => router.service(TestService, testServiceImpl),
      acceptCompression: [compressionGzip],
    });
    return { upstream: server.baseUrl };
  });
  afterAll(() => server?.close());

  for (const name of compressionCaseNames) it(name, () => compressionCases[name](path.transports));

  it("the upstream's gzip responses reached the client compressed and were inflated there", async () => {
    path.reset();
    await compressionCases.server_compressed_streaming(path.transports);
    // 31415 + 92653 zero bytes arrived as a few hundred.
    expect(path.compressed.received).toBeLessThan(5_000);
  });
});

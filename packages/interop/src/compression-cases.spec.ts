// Validates the compression cases and the reference servers against each other through
// connect-node's gRPC transport with gzip: an implementation independent of grpc-ws.
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { compressionGzip, connectNodeAdapter, createGrpcTransport } from "@connectrpc/connect-node";
import { createRouterTransport } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestService } from "../../../gen/grpc/testing/test_pb.js";
import { compressionCaseNames, compressionCases, type CompressionTransports } from "./compression-cases.js";
import { startGrpcJsTestServer, type GrpcJsTestServer } from "./grpc-js-server.js";
import { testServiceImpl } from "./test-service.js";

function transports(baseUrl: string): CompressionTransports {
  return {
    compressed: createGrpcTransport({
      baseUrl,
      sendCompression: compressionGzip,
      acceptCompression: [compressionGzip],
      compressMinBytes: 0,
    }),
    plain: createGrpcTransport({ baseUrl, acceptCompression: [] }),
  };
}

describe("compression cases against the Connect ServiceImpl via connect-node", () => {
  let h2: http2.Http2Server;
  const sessions = new Set<http2.ServerHttp2Session>();
  let baseUrl = "";

  beforeAll(async () => {
    h2 = http2.createServer(
      connectNodeAdapter({
        routes: (router) => router.service(TestService, testServiceImpl),
        acceptCompression: [compressionGzip],
      }),
    );
    h2.on("session", (s) => {
      sessions.add(s);
      s.on("close", () => sessions.delete(s));
    });
    await new Promise<void>((resolve) => h2.listen(0, "127.0.0.1", resolve));
    baseUrl = `http://127.0.0.1:${(h2.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    const closed = new Promise<void>((resolve) => h2.close(() => resolve()));
    for (const s of sessions) s.close();
    await closed;
  });

  for (const name of compressionCaseNames) it(name, () => compressionCases[name](transports(baseUrl)));
});

describe("compression cases against grpc-js via connect-node", () => {
  let server: GrpcJsTestServer;
  beforeAll(async () => {
    server = await startGrpcJsTestServer();
  });
  afterAll(() => server?.close());

  // grpc-js strips grpc-encoding before its handlers run: the probes cannot be checked there.
  for (const name of compressionCaseNames)
    it(name, () => compressionCases[name]({ ...transports(server.baseUrl), serverSeesEncoding: false }));
});

describe("the compression cases detect broken servers", () => {
  it("a server that ignores expect_compressed fails the probe", async () => {
    // The in-memory router transport never compresses and its server never checks.
    const t = createRouterTransport((r) =>
      r.service(TestService, {
        ...testServiceImpl,
        unaryCall: (req) => ({ payload: { body: new Uint8Array(req.responseSize) } }),
      }),
    );
    await expect(compressionCases.client_compressed_unary({ compressed: t, plain: t })).rejects.toThrow(/probe/);
  });
});

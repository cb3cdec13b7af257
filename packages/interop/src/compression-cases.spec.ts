// Validates the compression cases and the reference servers against each other through
// connect-node's gRPC transport with gzip: an implementation independent of grpc-ws.
import { compressionGzip, createGrpcTransport } from "@connectrpc/connect-node";
import { createRouterTransport } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestService } from "../../../gen/grpc/testing/test_pb.js";
import { compressionCaseNames, compressionCases, type CompressionTransports } from "./compression-cases.js";
import { startConnectNodeServer, type ConnectNodeTestServer } from "./connect-node-server.js";
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
  let server: ConnectNodeTestServer | undefined;

  beforeAll(async () => {
    server = await startConnectNodeServer({
      routes: (router) => router.service(TestService, testServiceImpl),
      acceptCompression: [compressionGzip],
    });
  });
  afterAll(() => server?.close());

  for (const name of compressionCaseNames) it(name, () => compressionCases[name](transports(server!.baseUrl)));
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

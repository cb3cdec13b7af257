// The compression cases of grpc/grpc doc/interop-test-descriptions.md, against Connect's public
// Transport: each needs a transport that compresses requests (sendCompression gzip) and one that
// does not. A Connect client cannot pick compression per message or see whether a response was
// compressed, so these check what the server did with each request and the responses' sizes.
// Browser-safe: no Node-only imports. Run by compression-cases.spec.ts (connect-node against the
// reference servers), and with the grpc-ws client by client/src/compression-interop.spec.ts (in
// process; through the gateway to grpc-js and to connect-node) and client/src/browser.spec.ts (Chromium).
import { Code, createClient, type Transport } from "@connectrpc/connect";
import { PayloadType } from "../../../gen/grpc/testing/messages_pb.js";
import { TestService } from "../../../gen/grpc/testing/test_pb.js";
import { requests, zeros } from "./case-data.js";
import { assert, assertEqual, expectConnectError } from "./cases.js";

export interface CompressionTransports {
  /** Sends gzip-compressed requests and accepts gzip responses. */
  compressed: Transport;
  /** Sends uncompressed requests (it may still accept compressed responses). */
  plain: Transport;
  /**
   * False for a server whose handlers cannot see the request's encoding (grpc-js strips
   * grpc-encoding before the handler): the probes, which need the server to reject an
   * uncompressed request that expects compression, are left out. Default true.
   */
  serverSeesEncoding?: boolean;
}
export type CompressionCase = (transports: CompressionTransports) => Promise<void>;

export const compressionCaseNames = [
  "client_compressed_unary",
  "server_compressed_unary",
  "client_compressed_streaming",
  "server_compressed_streaming",
] as const;
export type CompressionCaseName = (typeof compressionCaseNames)[number];

function assertZeros(body: Uint8Array | undefined, size: number, what: string): void {
  assert(body !== undefined, `${what}: response has no payload`);
  assertEqual(body.length, size, `${what}: payload size`);
  assert(
    body.every((b) => b === 0),
    `${what}: payload is not all zero`,
  );
}

export const compressionCases: Record<CompressionCaseName, CompressionCase> = {
  async client_compressed_unary({ compressed, plain, serverSeesEncoding = true }) {
    const req = { responseType: PayloadType.COMPRESSABLE, responseSize: 314159, payload: { body: zeros(271828) } };
    // 1. Probe: a request that claims to be compressed but is not.
    if (serverSeesEncoding)
      await expectConnectError(
        () => createClient(TestService, plain).unaryCall({ ...req, expectCompressed: { value: true } }),
        Code.InvalidArgument,
        "probe: uncompressed request with expect_compressed",
      );
    // 2. Compressed, and expected so.
    const res = await createClient(TestService, compressed).unaryCall({ ...req, expectCompressed: { value: true } });
    assertZeros(res.payload?.body, 314159, "compressed request");
    // 3. Uncompressed, and expected so.
    const res2 = await createClient(TestService, plain).unaryCall({ ...req, expectCompressed: { value: false } });
    assertZeros(res2.payload?.body, 314159, "uncompressed request");
  },

  async server_compressed_unary({ compressed }) {
    const client = createClient(TestService, compressed);
    for (const responseCompressed of [true, false]) {
      const res = await client.unaryCall({
        responseType: PayloadType.COMPRESSABLE,
        responseSize: 314159,
        payload: { body: zeros(271828) },
        responseCompressed: { value: responseCompressed },
      });
      assertZeros(res.payload?.body, 314159, `response_compressed ${responseCompressed}`);
    }
  },

  async client_compressed_streaming({ compressed, plain, serverSeesEncoding = true }) {
    // 1. Probe: the first message claims to be compressed but the call is not.
    if (serverSeesEncoding)
      await expectConnectError(
        () =>
          createClient(TestService, plain).streamingInputCall(
            requests({ payload: { body: zeros(27182) }, expectCompressed: { value: true } }),
          ),
        Code.InvalidArgument,
        "probe: uncompressed stream with expect_compressed",
      );
    // 2. A compressed first message, then one the spec sends uncompressed (Connect compresses
    // per call, so it goes compressed too when it is over compressMinBytes).
    const res = await createClient(TestService, compressed).streamingInputCall(
      requests(
        { payload: { body: zeros(27182) }, expectCompressed: { value: true } },
        { payload: { body: zeros(45904) }, expectCompressed: { value: false } },
      ),
    );
    assertEqual(res.aggregatedPayloadSize, 73086, "aggregated_payload_size");
  },

  async server_compressed_streaming({ compressed }) {
    const sizes: number[] = [];
    for await (const r of createClient(TestService, compressed).streamingOutputCall({
      responseType: PayloadType.COMPRESSABLE,
      responseParameters: [
        { compressed: { value: true }, size: 31415 },
        { compressed: { value: false }, size: 92653 },
      ],
    })) {
      assertZeros(r.payload?.body, r.payload?.body.length ?? -1, `response ${sizes.length}`);
      sizes.push(r.payload?.body.length ?? -1);
    }
    assertEqual(sizes.join(), "31415,92653", "response sizes");
  },
};

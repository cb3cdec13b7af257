// Unary round-trip time through the grpc-ws gateway (WebSocket client -> bridge -> HTTP/2 ->
// grpc-js) next to the same grpc-js server called directly by a grpc-js client, in one run.
// Run from bench/: npx tsx --tsconfig ../tsconfig.json gateway-rtt.ts   (CALLS=1000 by default)
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { credentials, makeGenericClientConstructor, type ServiceError } from "@grpc/grpc-js";
import { createWebSocketTransport } from "@grpc-ws/client";
import { createGrpcJsServiceDefinition, startGrpcJsTestServer } from "@grpc-ws/interop";
import { createWebSocketBridge } from "@grpc-ws/server";
import { SimpleRequestSchema, SimpleResponseSchema, type SimpleResponse } from "../gen/grpc/testing/messages_pb.js";
import { TestService } from "../gen/grpc/testing/test_pb.js";

const CALLS = Math.max(10, Number(process.env.CALLS) || 1000);
const WARMUP = 100;
const request = create(SimpleRequestSchema, { responseSize: 10, payload: { body: new Uint8Array(10) } });

async function measure(name: string, call: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < WARMUP; i++) await call();
  const samples = new Float64Array(CALLS);
  for (let i = 0; i < CALLS; i++) {
    const t0 = performance.now();
    await call();
    samples[i] = performance.now() - t0;
  }
  samples.sort();
  const q = (p: number) => (samples[Math.min(CALLS - 1, Math.floor(p * CALLS))]! * 1000).toFixed(0).padStart(6);
  console.log(`${name.padEnd(40)} p50 ${q(0.5)} us   p90 ${q(0.9)} us   p99 ${q(0.99)} us   (${CALLS} sequential calls)`);
}

const upstream = await startGrpcJsTestServer();
const bridge = createWebSocketBridge({ upstream: upstream.baseUrl });
const { url } = await bridge.listen();
const ws = createWebSocketTransport({ url });

// grpc-js client, the reference: same server, no gateway.
const Generic = makeGenericClientConstructor(createGrpcJsServiceDefinition(TestService), "TestService");
const grpcJs = new Generic(upstream.address, credentials.createInsecure()) as unknown as {
  UnaryCall(req: unknown, cb: (err: ServiceError | null, res: SimpleResponse) => void): void;
  close(): void;
};
const grpcJsUnary = () =>
  new Promise<SimpleResponse>((resolve, reject) => grpcJs.UnaryCall(request, (err, res) => (err ? reject(err) : resolve(res))));

const viaGateway = createClient(TestService, ws);
const viaConnectNode = createClient(TestService, createGrpcTransport({ baseUrl: upstream.baseUrl }));
// Sanity: both paths return the same bytes.
const a = toBinary(SimpleResponseSchema, await viaGateway.unaryCall(request));
const b = toBinary(SimpleResponseSchema, fromBinary(SimpleResponseSchema, toBinary(SimpleResponseSchema, await grpcJsUnary())));
if (Buffer.compare(a, b) !== 0) throw new Error("gateway and direct responses differ");

console.log(`node ${process.version}, loopback, one process`);
await measure("grpc-js client -> grpc-js (direct)", grpcJsUnary);
await measure("connect-node gRPC -> grpc-js (direct)", () => viaConnectNode.unaryCall(request));
await measure("grpc-ws -> gateway -> grpc-js", () => viaGateway.unaryCall(request));

grpcJs.close();
await ws.close();
await bridge.close({ drainTimeoutMs: 100 });
await upstream.close();

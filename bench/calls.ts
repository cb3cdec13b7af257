// End-to-end call figures, every path measured in the same run against the same baseline (a
// grpc-js client calling a grpc-js server directly): unary round-trip time in process through
// the bridge and through the gateway (WebSocket client -> bridge -> HTTP/2 -> grpc-js), and
// server-streaming throughput. One process, loopback.
// Run: npm run bench:calls   (CALLS=1000 and STREAM=20000 messages by default)
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { credentials, makeGenericClientConstructor, type ServiceError } from "@grpc/grpc-js";
import { createWebSocketTransport } from "@grpc-ws/client";
import { createGrpcJsServiceDefinition, startGrpcJsTestServer, testServiceImpl } from "@grpc-ws/interop";
import { createWebSocketBridge } from "@grpc-ws/server";
import {
  SimpleRequestSchema,
  SimpleResponseSchema,
  StreamingOutputCallRequestSchema,
  type SimpleResponse,
  type StreamingOutputCallResponse,
} from "../gen/grpc/testing/messages_pb.js";
import { TestService } from "../gen/grpc/testing/test_pb.js";
import { benchTelemetry } from "./telemetry.js";

const CALLS = Math.max(10, Number(process.env.CALLS) || 1000);
const STREAM = Math.max(100, Number(process.env.STREAM) || 20_000);
const WARMUP = 100;
const p50s = new Map<string, number>();
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
  const at = (p: number) => samples[Math.min(CALLS - 1, Math.floor(p * CALLS))]! * 1000;
  const q = (p: number) => at(p).toFixed(0).padStart(6);
  p50s.set(name, at(0.5));
  const base = p50s.values().next().value!;
  console.log(
    `${name.padEnd(40)} p50 ${q(0.5)} us   p90 ${q(0.9)} us   p99 ${q(0.99)} us   p50 vs grpc-js ${(at(0.5) / base).toFixed(2)}x`,
  );
}

// Messages per second of one server stream of STREAM small messages.
async function throughput(name: string, run: () => Promise<number>, base?: number): Promise<number> {
  await run(); // warm-up
  const t0 = performance.now();
  const count = await run();
  const perSec = count / ((performance.now() - t0) / 1000);
  if (count !== STREAM) throw new Error(`${name}: ${count} of ${STREAM} messages`);
  const ratio = base ? `   vs grpc-js ${(perSec / base).toFixed(2)}x` : "";
  console.log(`${name.padEnd(40)} ${(perSec / 1000).toFixed(0).padStart(6)} k msgs/s${ratio}`);
  return perSec;
}

const upstream = await startGrpcJsTestServer();
const bridge = createWebSocketBridge({ upstream: upstream.baseUrl });
const { url } = await bridge.listen();
const ws = createWebSocketTransport({ url });
const inProcess = createWebSocketBridge({ routes: (router) => router.service(TestService, testServiceImpl) });
const inProcessWs = createWebSocketTransport({ url: (await inProcess.listen()).url });
// The same in-process path with OpenTelemetry on in the client and the bridge.
const otel = benchTelemetry();
const traced = createWebSocketBridge({
  routes: (router) => router.service(TestService, testServiceImpl),
  telemetry: otel.options,
});
const tracedWs = createWebSocketTransport({ url: (await traced.listen()).url, telemetry: otel.options });

// grpc-js client, the reference: same server, no gateway.
const Generic = makeGenericClientConstructor(createGrpcJsServiceDefinition(TestService), "TestService");
const grpcJs = new Generic(upstream.address, credentials.createInsecure()) as unknown as {
  UnaryCall(req: unknown, cb: (err: ServiceError | null, res: SimpleResponse) => void): void;
  StreamingOutputCall(
    req: unknown,
  ): AsyncIterable<StreamingOutputCallResponse> & { on(event: "error", cb: (e: Error) => void): void };
  close(): void;
};
const grpcJsUnary = () =>
  new Promise<SimpleResponse>((resolve, reject) =>
    grpcJs.UnaryCall(request, (err, res) => (err ? reject(err) : resolve(res))),
  );

const viaGateway = createClient(TestService, ws);
const viaBridge = createClient(TestService, inProcessWs);
const viaTraced = createClient(TestService, tracedWs);
const viaConnectNode = createClient(TestService, createGrpcTransport({ baseUrl: upstream.baseUrl }));
// Sanity: both paths return the same bytes.
const a = toBinary(SimpleResponseSchema, await viaGateway.unaryCall(request));
const b = toBinary(
  SimpleResponseSchema,
  fromBinary(SimpleResponseSchema, toBinary(SimpleResponseSchema, await grpcJsUnary())),
);
if (Buffer.compare(a, b) !== 0) throw new Error("gateway and direct responses differ");

console.log(`node ${process.version}, loopback, one process; unary: ${CALLS} sequential calls, 10-byte payloads`);
await measure("grpc-js client -> grpc-js (direct)", grpcJsUnary);
await measure("connect-node gRPC -> grpc-js (direct)", () => viaConnectNode.unaryCall(request));
await measure("grpc-ws -> bridge (in-process handler)", () => viaBridge.unaryCall(request));
await measure("grpc-ws -> gateway -> grpc-js", () => viaGateway.unaryCall(request));
// Instrumentation on and off, alternated three times each (a shared machine drifts): medians of the p50s.
const onP50: number[] = [];
const offP50: number[] = [];
for (let round = 1; round <= 3; round++) {
  await measure(`grpc-ws -> bridge, OpenTelemetry on (${round})`, () => viaTraced.unaryCall(request));
  onP50.push(p50s.get(`grpc-ws -> bridge, OpenTelemetry on (${round})`)!);
  await measure(`grpc-ws -> bridge, OpenTelemetry off (${round})`, () => viaBridge.unaryCall(request));
  offP50.push(p50s.get(`grpc-ws -> bridge, OpenTelemetry off (${round})`)!);
}
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const on = median(onP50);
const off = median(offP50);
console.log(
  `OpenTelemetry overhead (client + bridge spans and metrics): unary p50 on/off ${(on / off).toFixed(2)}x (+${(on - off).toFixed(0)} us); ${otel.exported()} spans exported`,
);

console.log(`\nserver streaming: one call of ${STREAM} messages of 10 bytes`);
const streamRequest = create(StreamingOutputCallRequestSchema, {
  responseParameters: Array.from({ length: STREAM }, () => ({ size: 10 })),
});
const count = async (messages: AsyncIterable<unknown>) => {
  let n = 0;
  for await (const _ of messages) n++;
  return n;
};
const base = await throughput("grpc-js client -> grpc-js (direct)", () =>
  count(grpcJs.StreamingOutputCall(streamRequest)),
);
await throughput(
  "grpc-ws -> bridge (in-process handler)",
  () => count(viaBridge.streamingOutputCall(streamRequest)),
  base,
);
await throughput("grpc-ws -> gateway -> grpc-js", () => count(viaGateway.streamingOutputCall(streamRequest)), base);
const tracedRate = await throughput(
  "grpc-ws -> bridge, OpenTelemetry on",
  () => count(viaTraced.streamingOutputCall(streamRequest)),
  base,
);
const plainRate = await throughput(
  "grpc-ws -> bridge, OpenTelemetry off",
  () => count(viaBridge.streamingOutputCall(streamRequest)),
  base,
);
console.log(`OpenTelemetry overhead: server streaming msgs/s on/off ${(tracedRate / plainRate).toFixed(2)}x`);

grpcJs.close();
await ws.close();
await inProcessWs.close();
await tracedWs.close();
await traced.close({ drainTimeoutMs: 100 });
await otel.shutdown();
await bridge.close({ drainTimeoutMs: 100 });
await inProcess.close({ drainTimeoutMs: 100 });
await upstream.close();

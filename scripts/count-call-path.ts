// Counts what one unary call runs through in our packages: V8's precise coverage (function call
// counts) is reset after warm-up calls, then taken again after exactly one call. Reported per
// path (in-process handler, gateway to grpc-js): the src files of @grpc-ws/{wire,client,server}
// that ran, the distinct functions (methods, closures) that ran, and how many times functions
// in those files were called in all. Client and bridge run in this one process, so a call is
// counted from the client's `createClient` method to the handler and back.
// Run from the repository root: npx tsx --tsconfig tsconfig.json scripts/count-call-path.ts
import { Session } from "node:inspector/promises";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createWebSocketTransport } from "@grpc-ws/client";
import { startGrpcJsTestServer, testServiceImpl } from "@grpc-ws/interop";
import { createWebSocketBridge } from "@grpc-ws/server";
import { SimpleRequestSchema } from "../gen/grpc/testing/messages_pb.js";
import { TestService } from "../gen/grpc/testing/test_pb.js";

const OURS = /\/packages\/(wire|client|server)\/src\/(.+\.ts)$/;
// The byte codec: what the call path calls into for bytes, not a step of the call's lifecycle.
const CODEC =
  /^wire\/(metadata|frame-reader|frame-writer|message|headers|status-message|status|trailers|settings|timeout)\.ts$/;
const inspector = new Session();
inspector.connect();
await inspector.post("Profiler.enable");
await inspector.post("Profiler.startPreciseCoverage", { callCount: true, detailed: false });

const request = create(SimpleRequestSchema, { responseSize: 10, payload: { body: new Uint8Array(10) } });

async function count(name: string, call: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < 50; i++) await call();
  await new Promise((r) => setTimeout(r, 50));
  await inspector.post("Profiler.takePreciseCoverage"); // resets the counters
  await call();
  await new Promise((r) => setTimeout(r, 50)); // the flushes and callbacks of this call's tail
  const { result } = await inspector.post("Profiler.takePreciseCoverage");
  const files = new Map<string, number>();
  let functions = 0;
  let calls = 0;
  for (const script of result) {
    const m = OURS.exec(script.url);
    if (!m) continue;
    const file = `${m[1]}/${m[2]}`;
    for (const fn of script.functions) {
      const n = fn.ranges[0]?.count ?? 0;
      // The module's top-level "function" spans the whole file and counts its load only.
      if (n === 0 || fn.ranges[0]!.startOffset === 0) continue;
      functions++;
      calls += n;
      files.set(file, (files.get(file) ?? 0) + n);
    }
  }
  const lifecycle = [...files].filter(([file]) => !CODEC.test(file));
  const lifecycleCalls = lifecycle.reduce((sum, [, n]) => sum + n, 0);
  console.log(
    `${name}: ${files.size} files, ${functions} distinct functions, ${calls} calls; without the byte codec: ${lifecycle.length} files, ${lifecycleCalls} calls`,
  );
  for (const [file, n] of [...files].sort()) console.log(`  ${String(n).padStart(4)}  ${file}`);
}

const inProcess = createWebSocketBridge({ routes: (r) => r.service(TestService, testServiceImpl) });
const direct = createWebSocketTransport({ url: (await inProcess.listen()).url });
const upstream = await startGrpcJsTestServer();
const gateway = createWebSocketBridge({ upstream: upstream.baseUrl });
const viaGateway = createWebSocketTransport({ url: (await gateway.listen()).url });

await count("unary, in-process handler", () => createClient(TestService, direct).unaryCall(request));
await count("unary, gateway -> grpc-js", () => createClient(TestService, viaGateway).unaryCall(request));

await inspector.post("Profiler.stopPreciseCoverage");
inspector.disconnect();
await direct.close();
await viaGateway.close();
await inProcess.close();
await gateway.close();
await upstream.close();

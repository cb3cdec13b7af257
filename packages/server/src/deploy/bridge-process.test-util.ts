// One bridge as its own process, for the rolling deploy test (bundled by esbuild, run by node).
// It prints one JSON line when listening ({ port, pid }), drains on SIGTERM with `close()`, prints
// what it served ({ served: { [code]: count } }) and exits 0.
// The service file itself: the interop package index also brings in the browser driver.
import { createTestServiceImpl } from "../../../interop/src/test-service.js";
import { TestService } from "../../../../gen/grpc/testing/test_pb.js";
import { createWebSocketBridge } from "../index.js";

const port = Number(process.argv[2] ?? 0);
const drainTimeoutMs = Number(process.argv[3] ?? 3000);
const served: Record<number, number> = {};
const bridge = createWebSocketBridge({
  routes: (router) => router.service(TestService, createTestServiceImpl()),
  drainTimeoutMs,
  onCallEnd: (info) => (served[info.code] = (served[info.code] ?? 0) + 1),
});
void bridge
  .listen({ port })
  .then(({ port: bound }) => process.stdout.write(`${JSON.stringify({ port: bound, pid: process.pid })}\n`));
process.once("SIGTERM", () => {
  void bridge.close().then(() => {
    process.stdout.write(`${JSON.stringify({ served })}\n`, () => process.exit(0));
  });
});

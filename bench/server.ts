// One benchmark server in its own process: `server.ts <kind> [upstream base URL]`. The
// orchestrator (run.ts) reads its CPU time and memory over IPC, so server-side cost is measured
// in the server's process only.
import { createServer as createHttp2Server } from "node:http2";
import type { AddressInfo } from "node:net";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { Server, ServerCredentials } from "@grpc/grpc-js";
// The file, not the package entry: the entry also loads playwright-core (slow to start).
import { createGrpcJsServiceDefinition } from "../packages/interop/src/grpc-js-server.js";
import { createWebSocketBridge } from "@grpc-ws/server";
import { TestService } from "../gen/grpc/testing/test_pb.js";
import { serveParent } from "./ipc.js";
import { active, connectImpl, grpcJsImpl } from "./service.js";
import { startRawWsServer } from "./raw-ws.js";

export type ServerKind = "ws" | "grpc-js" | "connect" | "grpc-ws" | "gateway";

/**
 * grpc-ws servers admit 10,000 concurrent streams per connection (default 100) for the idle-stream
 * and 1,000-stream scenarios; every other setting and bound keeps its default.
 */
export const BENCH_MAX_STREAMS = 10_000;

const gc = (globalThis as { gc?: () => void }).gc;

async function start(
  kind: ServerKind,
  upstream: string | undefined,
): Promise<{ target: string; close: () => Promise<void> }> {
  switch (kind) {
    case "ws":
      return startRawWsServer();
    case "grpc-js": {
      const server = new Server();
      server.addService(createGrpcJsServiceDefinition(TestService), grpcJsImpl);
      const port = await new Promise<number>((resolve, reject) =>
        server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
      );
      return {
        target: `http://127.0.0.1:${port}`,
        close: () => new Promise<void>((r) => server.tryShutdown(() => r())),
      };
    }
    case "connect": {
      const server = createHttp2Server(
        connectNodeAdapter({
          routes: (router) => router.service(TestService, connectImpl),
          connect: false,
          grpcWeb: false,
        }),
      );
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const { port } = server.address() as AddressInfo;
      return { target: `http://127.0.0.1:${port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
    }
    case "grpc-ws":
    case "gateway": {
      const bridge = createWebSocketBridge(
        kind === "gateway"
          ? { upstream: upstream!, settings: { maxConcurrentStreams: BENCH_MAX_STREAMS } }
          : {
              routes: (router) => router.service(TestService, connectImpl),
              settings: { maxConcurrentStreams: BENCH_MAX_STREAMS },
            },
      );
      const { url } = await bridge.listen();
      return { target: url, close: () => bridge.close({ drainTimeoutMs: 100 }) };
    }
  }
}

const kind = process.argv[2] as ServerKind;
const server = await start(kind, process.argv[3]);
serveParent({
  target: () => server.target,
  cpu: () => process.cpuUsage(),
  mem: () => {
    // Twice: the first pass may only queue finalizers.
    gc?.();
    gc?.();
    const m = process.memoryUsage();
    return {
      rss: m.rss,
      heapUsed: m.heapUsed,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      gc: gc !== undefined,
    };
  },
  activeDuplex: () => active.duplex,
  close: async () => {
    await server.close();
    return true;
  },
});

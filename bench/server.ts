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
import { RESET_BURST, RESET_RATE_PER_S } from "@grpc-ws/wire";
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

/**
 * grpc-ws servers admit this many connections from one address (default 256): every bench client
 * is on 127.0.0.1, and the idle-connection scenario opens 1,000 of them.
 */
export const BENCH_MAX_CONNECTIONS_PER_ADDRESS = 2_000;

/**
 * The connect-node server takes RST_STREAM at the rate grpc-ws's bridge does by default (burst
 * 1,000, then 100 per second; its `resets` budget) instead of nghttp2's default (burst 1,000, then
 * 33 per second). Every capped stream sample ends with the client cancelling its streams (1,000 of
 * them in `streams1000`), so with nghttp2's default the server sent GOAWAY ENHANCE_YOUR_CALM in
 * round 2 and the connect-node peer's next samples failed. Both servers now bound resets alike.
 */
export const BENCH_RESET_LIMIT = { streamResetBurst: RESET_BURST, streamResetRate: RESET_RATE_PER_S };

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
        BENCH_RESET_LIMIT,
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
      const settings = { maxConcurrentStreams: BENCH_MAX_STREAMS };
      const limits = { maxConnectionsPerAddress: BENCH_MAX_CONNECTIONS_PER_ADDRESS };
      const bridge = createWebSocketBridge(
        kind === "gateway"
          ? { upstream: upstream!, settings, limits }
          : { routes: (router) => router.service(TestService, connectImpl), settings, limits },
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

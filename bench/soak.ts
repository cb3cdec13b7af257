// Soak: many connections with several calls each against one in-process bridge, every response
// checked; then heap (after GC) and open file descriptors must return near their baseline.
// Run: npm run soak   (CONNECTIONS=1000, STREAMS=10, SOAK_TIMEOUT_S=180 by default; exit 1 on a failure)
import { readdirSync } from "node:fs";
import { createClient } from "@connectrpc/connect";
import { createWebSocketTransport, type WebSocketTransport } from "@grpc-ws/client";
import { testServiceImpl } from "@grpc-ws/interop";
import { createWebSocketBridge } from "@grpc-ws/server";
import { TestService } from "../gen/grpc/testing/test_pb.js";

const CONNECTIONS = Math.max(1, Number(process.env.CONNECTIONS) || 1000);
const STREAMS = Math.max(1, Number(process.env.STREAMS) || 10);
const TIMEOUT_S = Math.max(10, Number(process.env.SOAK_TIMEOUT_S) || 180);
// What may stay behind once every connection closed: JIT code, pools, caches.
const HEAP_SLACK = 16 * 1024 * 1024;
const FD_SLACK = 8;

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --expose-gc (npm run soak does)");
const watchdog = setTimeout(() => {
  console.error(`soak: not done within ${TIMEOUT_S} s`);
  process.exit(1);
}, TIMEOUT_S * 1000);
watchdog.unref();

const fds = () => readdirSync("/proc/self/fd").length;
async function settledHeap(): Promise<number> {
  for (let i = 0; i < 4; i++) {
    gc!();
    await new Promise((r) => setTimeout(r, 50));
  }
  return process.memoryUsage().heapUsed;
}
const MiB = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

const bridge = createWebSocketBridge({
  routes: (router) => router.service(TestService, testServiceImpl),
  // One address opens every connection here: the per-address default (256) would refuse them.
  limits: { maxConnectionsPerAddress: 0, maxConnections: CONNECTIONS + 10 },
});
const { url } = await bridge.listen();

// Warm-up on one connection, so that the baseline includes compiled code and pools.
{
  const t = createWebSocketTransport({ url });
  const c = createClient(TestService, t);
  for (let i = 0; i < 200; i++) await c.unaryCall({ responseSize: 10 });
  await t.close();
  while (bridge.connections > 0) await new Promise((r) => setTimeout(r, 10));
}
const baseHeap = await settledHeap();
const baseFds = fds();

let failures = 0;
let checked = 0;
const fail = (what: string) => {
  if (failures++ < 5) console.error(`soak: ${what}`);
};

// One connection's calls: unary, server-streaming and bidi, alternating; every response size checked.
async function run(transport: WebSocketTransport, c: number): Promise<void> {
  const client = createClient(TestService, transport);
  await Promise.all(
    Array.from({ length: STREAMS }, async (_, s) => {
      const size = 1 + ((c * STREAMS + s) % 2048);
      try {
        if (s % 3 === 0) {
          const res = await client.unaryCall({ responseSize: size, payload: { body: new Uint8Array(size) } });
          if (res.payload?.body.length !== size)
            fail(`unary ${c}/${s}: ${res.payload?.body.length} bytes, expected ${size}`);
          checked++;
        } else if (s % 3 === 1) {
          let n = 0;
          for await (const res of client.streamingOutputCall({
            responseParameters: [{ size }, { size: size + 1 }, { size: size + 2 }],
          })) {
            if (res.payload?.body.length !== size + n)
              fail(`stream ${c}/${s} message ${n}: ${res.payload?.body.length} bytes`);
            n++;
            checked++;
          }
          if (n !== 3) fail(`stream ${c}/${s}: ${n} messages, expected 3`);
        } else {
          const requests = (async function* () {
            for (let i = 0; i < 3; i++)
              yield { responseParameters: [{ size: size + i }], payload: { body: new Uint8Array(size) } };
          })();
          let n = 0;
          for await (const res of client.fullDuplexCall(requests)) {
            if (res.payload?.body.length !== size + n)
              fail(`bidi ${c}/${s} message ${n}: ${res.payload?.body.length} bytes`);
            n++;
            checked++;
          }
          if (n !== 3) fail(`bidi ${c}/${s}: ${n} messages, expected 3`);
        }
      } catch (error) {
        fail(`call ${c}/${s} failed: ${String(error)}`);
      }
    }),
  );
}

const started = performance.now();
const transports = Array.from({ length: CONNECTIONS }, () => createWebSocketTransport({ url }));
let peakHeap = 0;
let peakConnections = 0;
const sampler = setInterval(() => {
  peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
  peakConnections = Math.max(peakConnections, bridge.connections);
}, 50);
// In batches: 1,000 SYNs at once overflow the listen backlog (511), and the kernel's SYN retries take seconds.
for (let i = 0; i < transports.length; i += 100)
  await Promise.all(transports.slice(i, i + 100).map((t) => t.connect()));
peakConnections = Math.max(peakConnections, bridge.connections);
await Promise.all(transports.map((t, c) => run(t, c)));
const elapsed = performance.now() - started;
clearInterval(sampler);
peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
await Promise.all(transports.map((t) => t.close()));
while (bridge.connections > 0) await new Promise((r) => setTimeout(r, 10));
const endHeap = await settledHeap();
const endFds = fds();
await bridge.close({ drainTimeoutMs: 100 });

const expected = CONNECTIONS * STREAMS; // calls
console.log(
  `soak: ${CONNECTIONS} connections x ${STREAMS} calls = ${expected} calls, ${checked} messages checked, ${failures} failures, ${(elapsed / 1000).toFixed(1)} s`,
);
console.log(
  `soak: peak connections ${peakConnections}; heap baseline ${MiB(baseHeap)}, peak ${MiB(peakHeap)} (${((peakHeap - baseHeap) / CONNECTIONS / 1024).toFixed(1)} KiB per connection, client and bridge together), after ${MiB(endHeap)} (${MiB(endHeap - baseHeap)} above baseline)`,
);
console.log(`soak: fds baseline ${baseFds}, after ${endFds}`);
let ok = failures === 0 && peakConnections === CONNECTIONS;
if (endHeap - baseHeap > HEAP_SLACK) {
  console.error(`soak: heap did not return to baseline (+${MiB(endHeap - baseHeap)}, slack ${MiB(HEAP_SLACK)})`);
  ok = false;
}
if (endFds - baseFds > FD_SLACK) {
  console.error(`soak: ${endFds - baseFds} file descriptors leaked (slack ${FD_SLACK})`);
  ok = false;
}
console.log(ok ? "soak: OK" : "soak: FAILED");
process.exit(ok ? 0 : 1);

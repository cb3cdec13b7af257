// Per-message gzip on a compressible 64 KiB payload, in two parts, each against identity in the
// same run. 1. The codecs alone: bytes per message and compress+decompress round trips/s.
// 2. End to end: a grpc-ws client calling the bridge's in-process handler over loopback, the
// request and the response both carrying the payload: bytes on the socket per call and calls/s,
// with the configurations interleaved round by round (medians reported). Also the cost of the
// opt-in acceptCompression [gzip] (grpc-accept-encoding: gzip) on small calls that stay uncompressed.
// Run: npm run bench:compression -w bench   (ROUNDS=5, ROUND_MS=1500 by default)
import { createClient } from "@connectrpc/connect";
import { createWebSocketTransport, type WebSocketTransportOptions } from "@grpc-ws/client";
import { createWebSocketBridge } from "@grpc-ws/server";
import { gzip, type Compression } from "@grpc-ws/wire";
import WebSocket from "ws";
import { TestService } from "../gen/grpc/testing/test_pb.js";
import { gzipNode } from "../packages/server/src/compression-gzip.js";
import { machineInfo } from "./machine.js";

const SIZE = 64 * 1024;
const MAX_ITERATIONS = 5_000;
const SAMPLE_MS = 1_500;
/** The default MAX_MESSAGE_SIZE: the decompression limit a receiver applies. */
const MAX_MESSAGE_SIZE = 4 * 1024 * 1024;

/** JSON-like records with varying numbers: compresses about as well as typical API payloads. */
function payload(): Uint8Array {
  let text = "";
  for (let i = 0; text.length < SIZE; i++)
    text += `{"id":${i * 7919},"name":"user-${i}","email":"user${i}@example.com","active":${i % 3 === 0},"score":${(i * 37) % 1000}}\n`;
  return new TextEncoder().encode(text.slice(0, SIZE));
}

const identity: Compression = {
  name: "identity",
  compress: async (b) => b.slice(),
  decompress: async (b) => b.slice(),
};

async function measure(c: Compression, data: Uint8Array): Promise<{ wireBytes: number; roundTripsPerSec: number }> {
  const packed = await c.compress(data);
  // A round trip: the sender compresses, the receiver decompresses (checked against the limit).
  let n = 0;
  const t0 = performance.now();
  while (n < MAX_ITERATIONS && performance.now() - t0 < SAMPLE_MS) {
    const out = await c.decompress(await c.compress(data), MAX_MESSAGE_SIZE);
    if (out.length !== SIZE) throw new Error(`${c.name}: round trip lost bytes`);
    n++;
  }
  return { wireBytes: 5 + packed.length, roundTripsPerSec: n / ((performance.now() - t0) / 1000) };
}

const data = payload();
const base = await measure(identity, data);
console.log(
  `payload ${SIZE} bytes; identity: ${base.wireBytes} wire bytes per message, ${base.roundTripsPerSec.toFixed(0)} copies/s (baseline)`,
);
for (const [label, c] of [
  ["gzip (zlib, server)", gzipNode],
  ["gzip (CompressionStream, browser/client)", gzip],
] as const) {
  const r = await measure(c, data);
  console.log(
    `${label}: ${r.wireBytes} wire bytes per message (${((100 * r.wireBytes) / base.wireBytes).toFixed(1)} % of identity), ` +
      `${r.roundTripsPerSec.toFixed(0)} compress+decompress/s (${(r.roundTripsPerSec / base.roundTripsPerSec).toFixed(4)} x identity)`,
  );
}

// --- 2. End to end -------------------------------------------------------------------------

const ROUNDS = Math.max(1, Number(process.env.ROUNDS) || 5);
const ROUND_MS = Math.max(200, Number(process.env.ROUND_MS) || 1500);
const MAX_CALLS_PER_ROUND = 200_000;

/** Bytes through the client's WebSocket (the frames' payloads, both ways). */
const socketBytes = { sent: 0, received: 0 };
class CountingWebSocket extends WebSocket {
  constructor(url: string, protocols: string | string[], options?: WebSocket.ClientOptions) {
    super(url, protocols, options);
    this.on("message", (data: ArrayBuffer | Buffer) => (socketBytes.received += data.byteLength));
  }
  override send(data: Uint8Array, ...rest: unknown[]): void {
    socketBytes.sent += data.byteLength;
    (super.send as (...a: unknown[]) => void)(data, ...rest);
  }
}

// The handler echoes the request's payload: the same bytes cross the socket both ways.
const bridge = createWebSocketBridge({
  routes: (r) =>
    r.service(TestService, {
      unaryCall: (req) => ({ payload: { body: req.payload?.body ?? new Uint8Array(0) } }),
    }),
});
const { url } = await bridge.listen({ port: 0 });

interface Config {
  label: string;
  body: Uint8Array;
  options: Partial<WebSocketTransportOptions>;
}
const small = new Uint8Array(10);
const configs: Config[] = [
  { label: "64 KiB, identity (acceptCompression [])", body: data, options: { acceptCompression: [] } },
  {
    label: "64 KiB, gzip both ways (send + accept)",
    body: data,
    options: { sendCompression: gzip, acceptCompression: [gzip] },
  },
  {
    label: "64 KiB, gzip both ways, client on zlib",
    body: data,
    options: { sendCompression: gzipNode, acceptCompression: [gzipNode] },
  },
  { label: "10 B, acceptCompression [] (default)", body: small, options: {} },
  { label: "10 B, acceptCompression [gzip]", body: small, options: { acceptCompression: [gzip] } },
];
const clients = configs.map((c) => {
  const transport = createWebSocketTransport({
    url,
    webSocket: CountingWebSocket as unknown as WebSocketTransportOptions["webSocket"],
    ...c.options,
  });
  return { transport, client: createClient(TestService, transport) };
});

async function call(i: number): Promise<void> {
  const res = await clients[i]!.client.unaryCall({ payload: { body: configs[i]!.body } });
  if (res.payload?.body.length !== configs[i]!.body.length) throw new Error(`${configs[i]!.label}: wrong echo`);
}

// Bytes per call, measured on one call each, after a warm-up call (connection set up).
const bytesPerCall: number[] = [];
for (let i = 0; i < configs.length; i++) {
  await call(i);
  socketBytes.sent = socketBytes.received = 0;
  await call(i);
  bytesPerCall.push(socketBytes.sent + socketBytes.received);
}

const rates: number[][] = configs.map(() => []);
for (let round = 0; round < ROUNDS; round++) {
  for (let i = 0; i < configs.length; i++) {
    let n = 0;
    const t0 = performance.now();
    while (n < MAX_CALLS_PER_ROUND && performance.now() - t0 < ROUND_MS) {
      await call(i);
      n++;
    }
    rates[i]!.push(n / ((performance.now() - t0) / 1000));
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const m = machineInfo();
console.log(
  `\nend to end, one call at a time, grpc-ws client -> bridge in process, loopback; ${ROUNDS} interleaved rounds of ${ROUND_MS} ms; ` +
    `${m.cpuModel}, ${m.cores} cores, Node ${m.node}, load ${m.loadAvgAtStart.join("/")}, ${new Date().toISOString()}`,
);
for (const group of [
  [0, 1, 2],
  [3, 4],
]) {
  const a = group[0]!;
  for (const i of group) {
    const ratio =
      i === a
        ? "(baseline)"
        : `calls/s ${(median(rates[i]!) / median(rates[a]!)).toFixed(2)} x, bytes ${(bytesPerCall[i]! / bytesPerCall[a]!).toFixed(3)} x`;
    console.log(
      `${configs[i]!.label.padEnd(42)} ${String(bytesPerCall[i]).padStart(7)} bytes/call  ` +
        `${median(rates[i]!).toFixed(0).padStart(6)} calls/s (median; rounds ${rates[i]!.map((r) => r.toFixed(0)).join(" ")})  ${ratio}`,
    );
  }
}

for (const c of clients) await c.transport.close();
await bridge.close({ drainTimeoutMs: 100 });

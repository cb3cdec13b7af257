// Per-message gzip on a compressible 64 KiB payload: bytes on the wire and messages/s for each
// backend, against identity (a copy) in the same run. Run: npm run bench:compression -w bench
import { gzip, type Compression } from "@grpc-ws/wire";
import { gzipNode } from "../packages/server/src/compression-gzip.js";

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

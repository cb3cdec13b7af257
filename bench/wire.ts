// `npm run bench:wire`: frame encode/decode throughput of @grpc-ws/wire against a naive codec
// and a plain memory copy, measured in one run. See README.md for what the numbers mean.
import os from "node:os";
import { FrameReader, FrameWriter, FRAME_HEADER_SIZE } from "@grpc-ws/wire";
import { NaiveWriter, naiveDecode } from "./naive-codec.js";
import { measureAll, consumed, type Case, type Timing } from "./measure.js";

interface Size {
  label: string;
  payload: number;
  framesPerMessage: number;
  messagesPerBatch: number;
}

const SIZES: Size[] = [
  { label: "100 B", payload: 100, framesPerMessage: 64, messagesPerBatch: 16 },
  { label: "64 KiB", payload: 64 * 1024, framesPerMessage: 1, messagesPerBatch: 16 },
  // Session's defaults: 16 KiB max frame size, up to 256 KiB of DATA coalesced per message.
  { label: "16 KiB", payload: 16 * 1024, framesPerMessage: 16, messagesPerBatch: 4 },
];

const envInt = (name: string, fallback: number): number => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? Math.floor(v) : fallback;
};
const options = {
  warmupMs: envInt("BENCH_WARMUP_MS", 200),
  sampleMs: envInt("BENCH_SAMPLE_MS", 500),
  samples: envInt("BENCH_SAMPLES", 5),
  maxBatches: 10_000_000,
};

const noSchedule = (): void => {};
// Decoded payloads go here so that every view escapes, as it does when handed to a stream.
const ring: Uint8Array[] = new Array<Uint8Array>(64).fill(new Uint8Array(0));
const streamIdOf = (i: number): number => 1 + ((i & 7) << 1);

function fail(message: string): never {
  throw new Error(`benchmark self-check failed: ${message}`);
}

function makeCases(s: Size) {
  const payload = new Uint8Array(s.payload);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + 7) & 0xff;
  const frameBytes = FRAME_HEADER_SIZE + s.payload;
  const messageBytes = frameBytes * s.framesPerMessage;
  const ops = s.framesPerMessage * s.messagesPerBatch;
  const bytes = messageBytes * s.messagesPerBatch;
  const maxFrameSize = Math.max(16 * 1024, s.payload);

  // The message every decoder reads, produced by our writer and checked against the naive one.
  let message: Uint8Array = new Uint8Array(0);
  const encodeOnce = new FrameWriter((m) => (message = m.slice()), { schedule: noSchedule });
  for (let i = 0; i < s.framesPerMessage; i++) encodeOnce.data(streamIdOf(i), payload);
  encodeOnce.flush();
  let naiveMessage: Uint8Array = new Uint8Array(0);
  const naiveOnce = new NaiveWriter((m) => (naiveMessage = m));
  for (let i = 0; i < s.framesPerMessage; i++) naiveOnce.data(streamIdOf(i), payload);
  naiveOnce.flush();
  if (message.length !== messageBytes || !Buffer.from(message).equals(Buffer.from(naiveMessage))) {
    fail(`FrameWriter and NaiveWriter disagree on ${s.label} frames`);
  }

  let sunk: Uint8Array = new Uint8Array(0);
  const sink = (m: Uint8Array): void => {
    sunk = m;
  };
  const naiveWriter = new NaiveWriter(sink);
  const writer = new FrameWriter(sink, { schedule: noSchedule });
  // Like `ws` on a server: holds each message until it is written, then releases it (here: when
  // the next message arrives), so the writer can reuse the memory.
  let held: (() => void) | undefined;
  const releasingWriter = new FrameWriter(
    (m, release) => {
      sunk = m;
      held?.();
      held = release;
    },
    { schedule: noSchedule },
  );
  const copyingWriter = new FrameWriter(sink, { schedule: noSchedule, sinkCopies: true });
  const reader = new FrameReader(maxFrameSize);
  const copyTarget = new Uint8Array(messageBytes);

  // Separate loops per class keep each call site monomorphic, as in real use.
  const encodeNaive = (): number => {
    let total = 0;
    for (let m = 0; m < s.messagesPerBatch; m++) {
      for (let i = 0; i < s.framesPerMessage; i++) naiveWriter.data(streamIdOf(i), payload);
      naiveWriter.flush();
      total += sunk.length;
    }
    return total;
  };
  const encodeOurs = (w: FrameWriter) => (): number => {
    let total = 0;
    for (let m = 0; m < s.messagesPerBatch; m++) {
      for (let i = 0; i < s.framesPerMessage; i++) w.data(streamIdOf(i), payload);
      w.flush();
      total += sunk.length;
    }
    return total;
  };

  const encode = {
    naive: { name: "naive", opsPerBatch: ops, bytesPerBatch: bytes, batch: encodeNaive },
    ours: { name: "FrameWriter sink keeps", opsPerBatch: ops, bytesPerBatch: bytes, batch: encodeOurs(writer) },
    oursReleasing: {
      name: "FrameWriter sink releases",
      opsPerBatch: ops,
      bytesPerBatch: bytes,
      batch: encodeOurs(releasingWriter),
    },
    oursCopies: {
      name: "FrameWriter sinkCopies",
      opsPerBatch: ops,
      bytesPerBatch: bytes,
      batch: encodeOurs(copyingWriter),
    },
  } satisfies Record<string, Case>;

  const decode = {
    naive: {
      name: "naive",
      opsPerBatch: ops,
      bytesPerBatch: bytes,
      batch: (): number => {
        let acc = 0;
        let k = 0;
        for (let m = 0; m < s.messagesPerBatch; m++) {
          const frames = naiveDecode(message, maxFrameSize);
          for (let i = 0; i < frames.length; i++) {
            const p = frames[i]!.payload;
            ring[k++ & 63] = p;
            acc += p.length + p[0]!;
          }
        }
        return acc;
      },
    },
    payload: {
      name: "FrameReader payload",
      opsPerBatch: ops,
      bytesPerBatch: bytes,
      batch: (): number => {
        let acc = 0;
        let k = 0;
        for (let m = 0; m < s.messagesPerBatch; m++) {
          const r = reader.reset(message);
          while (r.next()) {
            const p = r.payload;
            ring[k++ & 63] = p;
            acc += p.length + p[0]!;
          }
        }
        return acc;
      },
    },
    offsets: {
      name: "FrameReader offset/length",
      opsPerBatch: ops,
      bytesPerBatch: bytes,
      batch: (): number => {
        let acc = 0;
        for (let m = 0; m < s.messagesPerBatch; m++) {
          const r = reader.reset(message);
          while (r.next()) acc += r.length + r.bytes[r.offset]!;
        }
        return acc;
      },
    },
  } satisfies Record<string, Case>;

  const copy: Case = {
    name: "copy (set)",
    opsPerBatch: ops,
    bytesPerBatch: bytes,
    batch: (): number => {
      for (let m = 0; m < s.messagesPerBatch; m++) copyTarget.set(message);
      return copyTarget[messageBytes - 1]!;
    },
  };

  // What a writer whose sink keeps each message pays at least: fresh memory for every message.
  const allocCopy: Case = {
    name: "alloc + copy",
    opsPerBatch: ops,
    bytesPerBatch: bytes,
    batch: (): number => {
      let acc = 0;
      for (let m = 0; m < s.messagesPerBatch; m++) {
        const fresh = new Uint8Array(messageBytes);
        fresh.set(message);
        sunk = fresh;
        acc += fresh[messageBytes - 1]!;
      }
      return acc;
    },
  };

  // Every decoder must see the frames the writer wrote.
  const expected = s.messagesPerBatch * s.framesPerMessage * (s.payload + payload[0]!);
  for (const c of [decode.naive, decode.payload, decode.offsets]) {
    if (c.batch() !== expected) fail(`${c.name} decoded the wrong bytes for ${s.label} frames`);
  }
  for (const c of [encode.naive, encode.ours, encode.oursCopies]) {
    if (c.batch() !== bytes) fail(`${c.name} encoded the wrong number of bytes for ${s.label} frames`);
  }

  return { size: s, encode, decode, copy, allocCopy };
}

const all = SIZES.map(makeCases);
const cases: Case[] = all.flatMap((g) => [...Object.values(g.encode), ...Object.values(g.decode), g.copy, g.allocCopy]);

const cpu = os.cpus()[0]?.model ?? "unknown CPU";
console.log(
  `grpc-ws wire codec benchmark — node ${process.version}, ${os.cpus().length} x ${cpu}, load ${os.loadavg()[0]!.toFixed(2)}`,
);
console.log(
  `${options.samples} samples x ${options.sampleMs} ms per case (round-robin, median), warm-up ${options.warmupMs} ms; ` +
    `MB = 10^6 wire bytes (9-byte header + payload)`,
);
const started = performance.now();
const results = measureAll(cases, options);

const fmtOps = (n: number): string =>
  n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : n.toFixed(0);
const fmtRatio = (r: number | undefined): string =>
  r === undefined ? "" : `${r >= 100 ? r.toFixed(0) : r.toFixed(2)}x`;
const t = (c: Case): Timing => results.get(c)!;

const rows: string[][] = [["frames", "op", "codec", "frames/s", "MB/s", "vs naive", "vs copy"]];
const targets: Array<{ what: string; ratio: number; goal: number }> = [];
const notes: string[] = [];
for (const g of all) {
  const copyRate = t(g.copy).bytesPerSec;
  const row = (op: string, c: Case, naive: Case | undefined): void => {
    const r = t(c);
    rows.push([
      g.size.label,
      op,
      c.name,
      fmtOps(r.opsPerSec),
      (r.bytesPerSec / 1e6).toFixed(0),
      fmtRatio(naive && c !== naive ? r.opsPerSec / t(naive).opsPerSec : undefined),
      g.size.payload === 100 ? "" : fmtRatio(r.bytesPerSec / copyRate),
    ]);
  };
  for (const c of Object.values(g.encode)) row("encode", c, g.encode.naive);
  for (const c of Object.values(g.decode)) row("decode", c, g.decode.naive);
  row("copy", g.copy, undefined);
  row("copy", g.allocCopy, undefined);

  const naiveRatio = (c: Case, naive: Case): number => t(c).opsPerSec / t(naive).opsPerSec;
  const copyRatio = (c: Case, base: Case): number => t(c).bytesPerSec / t(base).bytesPerSec;
  if (g.size.payload === 100) {
    targets.push({
      what: "100 B encode, FrameWriter vs naive",
      ratio: naiveRatio(g.encode.ours, g.encode.naive),
      goal: 5,
    });
    targets.push({
      what: "100 B decode, FrameReader payload vs naive",
      ratio: naiveRatio(g.decode.payload, g.decode.naive),
      goal: 10,
    });
  } else if (g.size.payload === 64 * 1024) {
    // Both real modes: the browser / Node client (the socket copies) and the server (ws releases each message once written).
    targets.push({
      what: "64 KiB encode, FrameWriter sinkCopies vs copy",
      ratio: copyRatio(g.encode.oursCopies, g.copy),
      goal: 0.5,
    });
    targets.push({
      what: "64 KiB encode, FrameWriter sink releases vs copy",
      ratio: copyRatio(g.encode.oursReleasing, g.copy),
      goal: 0.5,
    });
    targets.push({
      what: "64 KiB decode, FrameReader payload vs copy",
      ratio: copyRatio(g.decode.payload, g.copy),
      goal: 0.5,
    });
    notes.push(
      `64 KiB encode, FrameWriter (sink never releases) vs alloc + copy: ${fmtRatio(copyRatio(g.encode.ours, g.allocCopy))}` +
        ` (vs copy: ${fmtRatio(copyRatio(g.encode.ours, g.copy))}; each message needs fresh memory)`,
    );
  }
}

const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
const numeric = new Set([3, 4, 5, 6]);
const line = (r: string[]): string =>
  r.map((cell, i) => (numeric.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join("  ");
console.log("");
console.log(line(rows[0]!));
console.log(widths.map((w) => "-".repeat(w)).join("  "));
for (const r of rows.slice(1)) console.log(line(r));
console.log("");
let missed = 0;
for (const x of targets) {
  const ok = x.ratio >= x.goal;
  if (!ok) missed++;
  console.log(`${ok ? "PASS" : "MISS"}  ${x.what}: ${fmtRatio(x.ratio)} (target >= ${fmtRatio(x.goal)})`);
}
for (const n of notes) console.log(`info  ${n}`);
console.log(
  `\n${targets.length - missed}/${targets.length} targets met in ${((performance.now() - started) / 1000).toFixed(1)} s (checksum ${consumed() & 0xff})`,
);
if (missed > 0 && process.env.BENCH_STRICT === "1") process.exitCode = 1;

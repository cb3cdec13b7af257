// The client of one peer in its own process: `client.ts <peer kind> <server target>`. Runs one
// scenario per request from run.ts and answers its figures. Every loop is bounded by a count
// and by a deadline (`capMs`); a run cut by its deadline reports what it did, marked `capped`.
import { serveParent } from "./ipc.js";
import { connectPeer, idleConnections, type Peer, type PeerKind } from "./peers.js";

export interface ScenarioResult {
  /** Operations (calls or messages) completed. */
  ops: number;
  /** Payload bytes moved (messages x size), for MB/s. */
  bytes: number;
  wallMs: number;
  /** Round-trip percentiles in microseconds, for latency scenarios. */
  p50Us?: number;
  p90Us?: number;
  p99Us?: number;
  /** True when the deadline, not the count, ended the loop. */
  capped: boolean;
  /** This client process's CPU time during the scenario, microseconds. */
  clientCpuUs: number;
}

export type ScenarioSpec =
  | { kind: "unarySeq"; calls: number; capMs: number }
  | { kind: "unaryConc"; calls: number; inflight: number; capMs: number }
  | { kind: "serverStream"; size: number; count: number; capMs: number }
  | { kind: "clientStream"; size: number; count: number; capMs: number }
  | { kind: "pingPong"; pings: number; capMs: number }
  | { kind: "manyStreams"; streams: number; perStream: number; size: number; capMs: number };

/** How long past its deadline a cut-short scenario may take to wind down before it fails. */
const GRACE_MS = 15_000;
const kind = process.argv[2] as PeerKind;
const target = process.argv[3]!;
const peer = await connectPeer(kind, target);

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! * 1000;
}

function latencies(samples: number[]): Pick<ScenarioResult, "p50Us" | "p90Us" | "p99Us"> {
  const s = Float64Array.from(samples).sort();
  return { p50Us: percentile(s, 0.5), p90Us: percentile(s, 0.9), p99Us: percentile(s, 0.99) };
}

/** Rejects after `ms`: a stream that never ends fails the sample instead of hanging the run. */
function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${kind}: ${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

async function run(spec: ScenarioSpec, p: Peer): Promise<Omit<ScenarioResult, "clientCpuUs" | "wallMs">> {
  const deadline = performance.now() + spec.capMs;
  switch (spec.kind) {
    case "unarySeq": {
      const samples: number[] = [];
      while (samples.length < spec.calls && performance.now() < deadline) {
        const t0 = performance.now();
        await p.unary();
        samples.push(performance.now() - t0);
      }
      return { ops: samples.length, bytes: 0, capped: samples.length < spec.calls, ...latencies(samples) };
    }
    case "unaryConc": {
      let started = 0;
      let done = 0;
      const worker = async (): Promise<void> => {
        while (started < spec.calls && performance.now() < deadline) {
          started++;
          await p.unary();
          done++;
        }
      };
      await bounded(
        Promise.all(Array.from({ length: spec.inflight }, worker)),
        spec.capMs + GRACE_MS,
        "unary in flight",
      );
      return { ops: done, bytes: 0, capped: done < spec.calls };
    }
    case "serverStream": {
      const n = await bounded(p.serverStream(spec.size, spec.count, deadline), spec.capMs + GRACE_MS, "server stream");
      return { ops: n, bytes: n * spec.size, capped: n < spec.count };
    }
    case "clientStream": {
      const n = await bounded(p.clientStream(spec.size, spec.count, deadline), spec.capMs + GRACE_MS, "client stream");
      return { ops: n, bytes: n * spec.size, capped: n < spec.count };
    }
    case "pingPong": {
      const call = await p.pingPong();
      const samples: number[] = [];
      while (samples.length < spec.pings && performance.now() < deadline) {
        const t0 = performance.now();
        await call.ping();
        samples.push(performance.now() - t0);
      }
      await bounded(call.close(), 10_000, "closing the bidi call");
      return { ops: samples.length, bytes: 0, capped: samples.length < spec.pings, ...latencies(samples) };
    }
    case "manyStreams": {
      const counts = await bounded(
        Promise.all(Array.from({ length: spec.streams }, () => p.serverStream(spec.size, spec.perStream, deadline))),
        spec.capMs + GRACE_MS,
        `${spec.streams} concurrent streams`,
      );
      const n = counts.reduce((a, b) => a + b, 0);
      return { ops: n, bytes: n * spec.size, capped: n < spec.streams * spec.perStream };
    }
  }
}

let closeIdle: (() => Promise<void>) | undefined;
serveParent({
  run: async (arg) => {
    const spec = arg as ScenarioSpec;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const r = await run(spec, peer);
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    return { ...r, wallMs, clientCpuUs: cpu.user + cpu.system } satisfies ScenarioResult;
  },
  idleConnections: async (arg) => {
    closeIdle = await idleConnections(kind, target, arg as number);
    return true;
  },
  // The orchestrator then waits until the server runs every stream's handler. (No call on the
  // same connection here: with the server's stream limit reached it would wait for a slot.)
  idleStreams: async (arg) => {
    closeIdle = await peer.idleStreams(arg as number);
    return true;
  },
  closeIdle: async () => {
    await closeIdle?.();
    closeIdle = undefined;
    return true;
  },
  cpu: () => process.cpuUsage(),
  close: async () => {
    await peer.close();
    return true;
  },
});

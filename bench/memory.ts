// Server memory per idle connection and per idle stream. Each measurement gets a fresh server
// process and a fresh client process, so nothing earlier scenarios allocated hides in the figures:
// RSS and heap after two forced GCs, before and after the idle connections or streams are open.
import type { Child } from "./ipc.js";
import type { PeerKind } from "./peers.js";
import { MEMORY_PEERS, memorySizes } from "./scenarios.js";
import type { ServerKind } from "./server.js";

interface Mem {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  gc: boolean;
}

export interface MemorySample {
  rssPer: number;
  heapPer: number;
  /** external + arrayBuffers per connection/stream: buffers outside the JS heap. */
  externalPer: number;
}

export interface MemoryResults {
  connections: number;
  streams: number;
  perConnection: Partial<Record<PeerKind, MemorySample[]>>;
  perStream: Partial<Record<PeerKind, MemorySample[]>>;
  errors: string[];
}

type StartServer = (kind: ServerKind, upstream?: string) => Promise<{ child: Child; target: string }>;
type StartClient = (kind: PeerKind, target: string) => Promise<Child>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function per(m0: Mem, m1: Mem, n: number): MemorySample {
  return {
    rssPer: (m1.rss - m0.rss) / n,
    heapPer: (m1.heapUsed - m0.heapUsed) / n,
    externalPer: (m1.external - m0.external) / n,
  };
}

async function once(
  kind: PeerKind,
  what: "connections" | "streams",
  n: number,
  startServer: StartServer,
  startClient: StartClient,
): Promise<MemorySample> {
  const server = await startServer(kind as ServerKind);
  const client = await startClient(kind, server.target);
  try {
    // Warm both sides up (code loaded, first-call allocations made) before the baseline.
    await client.call("run", { kind: "unarySeq", calls: 50, capMs: 10_000 });
    const m0 = await server.child.call<Mem>("mem");
    if (!m0.gc) throw new Error("server runs without --expose-gc");
    await client.call(what === "connections" ? "idleConnections" : "idleStreams", n, 180_000);
    if (what === "streams") {
      // Every handler is running: the streams are open on the server, not just sent.
      const deadline = Date.now() + 30_000;
      while ((await server.child.call<number>("activeDuplex")) < n) {
        if (Date.now() > deadline)
          throw new Error(
            `${kind}: only ${await server.child.call<number>("activeDuplex")} of ${n} streams open after 30 s`,
          );
        await sleep(100);
      }
    } else await sleep(300);
    const m1 = await server.child.call<Mem>("mem");
    await client.call("closeIdle", undefined, 60_000);
    return per(m0, m1, n);
  } finally {
    await client.call("close", undefined, 10_000).catch(() => undefined);
    await client.stop();
    await server.child.stop();
  }
}

export async function measureMemory(
  quick: boolean,
  onlyPeers: PeerKind[] | undefined,
  startServer: StartServer,
  startClient: StartClient,
): Promise<MemoryResults> {
  const sizes = memorySizes(quick);
  const res: MemoryResults = {
    connections: sizes.connections,
    streams: sizes.streams,
    perConnection: {},
    perStream: {},
    errors: [],
  };
  const pick = (ps: PeerKind[]) => ps.filter((p) => !onlyPeers || onlyPeers.includes(p));
  console.log(
    `memory: ${sizes.connections} idle connections, ${sizes.streams} idle streams on one connection, ${sizes.rounds} round(s)`,
  );
  for (let round = 0; round < sizes.rounds; round++) {
    for (const [what, n, peers, into] of [
      ["connections", sizes.connections, pick(MEMORY_PEERS.connections), res.perConnection],
      ["streams", sizes.streams, pick(MEMORY_PEERS.streams), res.perStream],
    ] as const) {
      // The peers in parallel, each with its own server and client process: memory is read per
      // process, so they do not disturb each other's figures, and the run stays short.
      await Promise.all(
        peers.map(async (p) => {
          try {
            const s = await once(p, what, n, startServer, startClient);
            (into[p] ??= []).push(s);
          } catch (e) {
            const msg = `${what} ${p}: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`;
            res.errors.push(msg);
            console.log(`  ${msg}`);
          }
        }),
      );
    }
  }
  return res;
}

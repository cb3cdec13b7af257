// `npm run bench`: grpc-ws against what users would pick instead, each server and each client in
// its own process, peers interleaved round by round, medians with min-max, ratios from this run.
// Flags: --quick (every scenario, small: a smoke check), --no-browser, --out=<file>,
// --only=<scenario ids, comma-separated>, --peers=<peer kinds>. BENCH_CPU_PROF=<dir> runs every
// child with `node --cpu-prof` writing there. See README.md.
import { execSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import type { ScenarioResult } from "./client.js";
import { buildChildren, spawnChild, type Child } from "./ipc.js";
import { machineBusySeconds, machineInfo, packageVersions } from "./machine.js";
import { measureMemory, type MemoryResults } from "./memory.js";
import type { PeerKind } from "./peers.js";
import { buildReport, printReport, type Sample } from "./report.js";
import { scenarios, warmup } from "./scenarios.js";
import type { ServerKind } from "./server.js";

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const quick = args.includes("--quick");
const browser = !args.includes("--no-browser");
const verbose = args.includes("--verbose");
const only = flag("only")?.split(",");
const onlyPeers = flag("peers")?.split(",") as PeerKind[] | undefined;
const out = fileURLToPath(
  new URL(flag("out") ?? (quick ? "results/quick.json" : "results/latest.json"), new URL(`file://${process.cwd()}/`)),
);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS) || (quick ? 1 : 5));
const started = Date.now();
const machine = machineInfo();

const profDir = process.env.BENCH_CPU_PROF;
const childArgv = (name: string): string[] => (profDir ? ["--cpu-prof", `--cpu-prof-dir=${profDir}/${name}`] : []);
const serverOf: Record<PeerKind, ServerKind> = {
  ws: "ws",
  "ws-corked": "ws",
  "grpc-js": "grpc-js",
  connect: "connect",
  "grpc-ws": "grpc-ws",
  gateway: "gateway",
};

/** Starts one server process; `upstream` for the gateway. */
async function startServer(kind: ServerKind, upstream?: string): Promise<{ child: Child; target: string }> {
  const child = await spawnChild(`server ${kind}`, "server", upstream ? [kind, upstream] : [kind], [
    "--expose-gc",
    ...childArgv(`server-${kind}`),
  ]);
  return { child, target: await child.call<string>("target") };
}

async function startClient(kind: PeerKind, target: string): Promise<Child> {
  return spawnChild(`client ${kind}`, "client", [kind, target], childArgv(`client-${kind}`));
}

const cpuUs = (c: NodeJS.CpuUsage): number => c.user + c.system;

console.log(
  `grpc-ws bench${quick ? " --quick" : ""}: ${machine.cores} x ${machine.cpuModel}, ${machine.memoryGiB} GiB, node ${machine.node}, load ${machine.loadAvgAtStart.join(" ")}`,
);

await buildChildren({ server: "./server.ts", client: "./client.ts" });
const chosen = scenarios(quick).filter((s) => !only || only.includes(s.id));
const peersUsed = new Set<PeerKind>(chosen.flatMap((s) => s.peers).filter((p) => !onlyPeers || onlyPeers.includes(p)));
const servers = new Map<ServerKind, { child: Child; target: string }>();
const clients = new Map<PeerKind, Child>();
const samples = new Map<string, Map<PeerKind, Sample[]>>();
let memory: MemoryResults | undefined;
let browserResults: unknown;
let upstreamOfGateway: Child | undefined;

try {
  // The gateway forwards to a grpc-js server of its own (another process), not the grpc-js peer's.
  const needed = new Set([...peersUsed].map((p) => serverOf[p]));
  // Started in parallel: process start-up is most of a --quick run's time on a busy machine.
  await Promise.all(
    [...needed].map(async (kind) => {
      if (kind === "gateway") {
        const upstream = await startServer("grpc-js");
        upstreamOfGateway = upstream.child;
        servers.set("gateway", await startServer("gateway", upstream.target));
      } else servers.set(kind, await startServer(kind));
    }),
  );
  await Promise.all(
    [...peersUsed].map(async (p) => clients.set(p, await startClient(p, servers.get(serverOf[p])!.target))),
  );
  console.log(
    `${servers.size + (upstreamOfGateway ? 1 : 0)} servers and ${clients.size} clients started (${((Date.now() - started) / 1000).toFixed(1)} s)`,
  );
  const serverChildren = [...servers.values()].map((s) => s.child).concat(upstreamOfGateway ? [upstreamOfGateway] : []);

  const runOnce = async (peer: PeerKind, spec: Parameters<typeof warmup>[0]["spec"]): Promise<Sample> => {
    const server = servers.get(serverOf[peer])!.child;
    const cpus0 = await Promise.all(serverChildren.map((c) => c.call<NodeJS.CpuUsage>("cpu")));
    const own0 = process.cpuUsage();
    const busy0 = machineBusySeconds();
    const t0 = performance.now();
    const r = await clients.get(peer)!.call<ScenarioResult>("run", spec, spec.capMs + 60_000);
    const wall = (performance.now() - t0) / 1000;
    const busy1 = machineBusySeconds();
    const own = cpuUs(process.cpuUsage(own0));
    const cpus1 = await Promise.all(serverChildren.map((c) => c.call<NodeJS.CpuUsage>("cpu")));
    const serverCpuUs = cpuUs(cpus1[serverChildren.indexOf(server)]!) - cpuUs(cpus0[serverChildren.indexOf(server)]!);
    const allServersUs = cpus1.reduce((a, c, i) => a + cpuUs(c) - cpuUs(cpus0[i]!), 0);
    const foreignCores =
      busy0 === undefined || busy1 === undefined
        ? undefined
        : Math.max(0, (busy1 - busy0 - (allServersUs + r.clientCpuUs + own) / 1e6) / wall);
    return { ...r, serverCpuUs, foreignCores, loadAvg1: os.loadavg()[0]! };
  };

  console.log(`warm-up, then ${ROUNDS} rounds of ${chosen.map((s) => s.id).join(", ")}`);
  for (const s of chosen) for (const p of s.peers) if (peersUsed.has(p)) await runOnce(p, warmup(s));
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of chosen) {
      const peers = s.peers.filter((p) => peersUsed.has(p));
      // Rotate the order every round, so no peer always runs first (or right after the heaviest).
      const order = peers.map((_, i) => peers[(i + round) % peers.length]!);
      const took: string[] = [];
      for (const p of order) {
        const t0 = Date.now();
        let sample: Sample;
        try {
          sample = await runOnce(p, s.spec);
        } catch (e) {
          sample = { error: e instanceof Error ? e.message.split("\n")[0]! : String(e) };
          console.log(`  ${s.id} ${p}: ${sample.error}`);
        }
        const byPeer = samples.get(s.id) ?? new Map<PeerKind, Sample[]>();
        samples.set(s.id, byPeer);
        byPeer.set(p, [...(byPeer.get(p) ?? []), sample]);
        took.push(`${p} ${((Date.now() - t0) / 1000).toFixed(1)}s`);
      }
      if (verbose) console.log(`  ${s.id}: ${took.join(", ")}`);
    }
    console.log(
      `  round ${round + 1}/${ROUNDS} done (${((Date.now() - started) / 1000).toFixed(0)} s, load ${os.loadavg()[0]!.toFixed(2)})`,
    );
  }
} finally {
  for (const c of clients.values()) await c.call("close", undefined, 10_000).catch(() => undefined);
  for (const c of clients.values()) await c.stop();
  for (const s of servers.values()) await s.child.stop();
  await upstreamOfGateway?.stop();
}

if (!only || only.includes("memory")) {
  memory = await measureMemory(quick, onlyPeers, startServer, startClient);
}
if (browser && (!only || only.includes("browser"))) {
  const { runBrowser } = await import("./browser.js");
  browserResults = await runBrowser(quick);
}

const report = buildReport({
  quick,
  rounds: ROUNDS,
  machine: { ...machine, loadAvgAtEnd: os.loadavg().map((x) => Math.round(x * 100) / 100) },
  packages: packageVersions(),
  commit: gitCommit(),
  durationS: Math.round((Date.now() - started) / 1000),
  scenarios: chosen,
  samples,
  memory,
  browser: browserResults,
});
printReport(report);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(report, null, 2) + "\n");
console.log(`\nwrote ${out} (${report.durationS} s)`);

function gitCommit(): string {
  try {
    const dirty = execSync("git status --porcelain --untracked-files=no", { encoding: "utf8" }).trim() !== "";
    return execSync("git rev-parse --short HEAD", { encoding: "utf8" }).trim() + (dirty ? "+dirty" : "");
  } catch {
    return "unknown";
  }
}

// Summarises `node --cpu-prof` profiles (from `BENCH_CPU_PROF=<dir> npm run bench ...`): self
// time per function and per area (protobuf-es, Connect, ws, grpc-ws wire/server/client, Node
// internals, GC, idle), so "where the time goes" is a table, not a flame graph.
// Run: npx tsx bench/profile-summary.ts <file.cpuprofile|dir> [top N] [--last=<seconds>]
// --last keeps only the profile's last seconds (the timed rounds, not start-up and module loading).
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

const AREAS: Array<[string, RegExp]> = [
  ["protobuf-es", /@bufbuild\/protobuf/],
  ["connect", /@connectrpc\//],
  ["grpc-js", /@grpc\/grpc-js/],
  ["ws", /node_modules\/ws\//],
  ["grpc-ws wire", /packages\/wire\//],
  ["grpc-ws server", /packages\/server\//],
  ["grpc-ws client", /packages\/client\//],
  ["grpc-ws wire+server, bundled (and bench handlers)", /\.build\/server\.mjs/],
  ["grpc-ws client, bundled (and bench client)", /\.build\/client\.mjs/],
  ["bench", /bench\/[a-z-]+\.ts/],
  ["node internals", /^node:|^internal\//],
];

export function summarise(
  p: Profile,
  lastUs = Infinity,
): { total: number; areas: Map<string, number>; fns: Map<string, number> } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  const end = p.timeDeltas.reduce((a, b) => a + b, 0);
  let t = 0;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    if (end - t > lastUs) continue;
    self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const areas = new Map<string, number>();
  const fns = new Map<string, number>();
  let total = 0;
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const { functionName, url, lineNumber } = n.callFrame;
    const special = functionName.startsWith("(") ? functionName : undefined;
    const area = special ?? AREAS.find(([, re]) => re.test(url))?.[0] ?? (url ? "other js" : "native / builtins");
    areas.set(area, (areas.get(area) ?? 0) + us);
    const short = url
      .replace(/^.*node_modules\//, "")
      .replace(/^.*\/packages\//, "packages/")
      .replace(/^file:\/\//, "");
    const key = `${functionName || "(anonymous)"} ${short}:${lineNumber + 1}`;
    fns.set(key, (fns.get(key) ?? 0) + us);
    if (functionName !== "(idle)" && functionName !== "(program)") total += us;
  }
  return { total, areas, fns };
}

function files(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path)
    .flatMap((f) => files(join(path, f)))
    .filter((f) => f.endsWith(".cpuprofile"));
}

const target = process.argv[2];
if (target) {
  const top = Number(process.argv[3]) || 25;
  const last = Number(process.argv.find((a) => a.startsWith("--last="))?.slice(7)) * 1e6 || Infinity;
  for (const f of files(target)) {
    const { total, areas, fns } = summarise(JSON.parse(readFileSync(f, "utf8")) as Profile, last);
    const pct = (us: number) => `${((100 * us) / total).toFixed(1)}%`.padStart(6);
    console.log(`\n# ${f}: ${(total / 1000).toFixed(0)} ms busy (idle and (program) left out of the percentages)`);
    for (const [a, us] of [...areas].sort((x, y) => y[1] - x[1]))
      if (a !== "(idle)" && a !== "(program)") console.log(`${pct(us)}  ${a}`);
    console.log("");
    for (const [k, us] of [...fns]
      .sort((x, y) => y[1] - x[1])
      .filter(([k]) => !k.startsWith("(idle)") && !k.startsWith("(program)"))
      .slice(0, top))
      console.log(`${pct(us)}  ${k}`);
  }
}

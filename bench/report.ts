// Turns the samples into figures (median, min, max), the ratios against the issue's targets
// (all from this run), the Markdown tables and the results file.
import type { ScenarioResult } from "./client.js";
import { median } from "./measure.js";
import type { MemoryResults, MemorySample } from "./memory.js";
import type { PeerKind } from "./peers.js";
import type { Scenario } from "./scenarios.js";

export type Sample =
  | (ScenarioResult & { serverCpuUs: number; foreignCores: number | undefined; loadAvg1: number })
  | { error: string };

export interface Stat {
  median: number;
  min: number;
  max: number;
  n: number;
  /** Samples that failed (timeouts, errors); their messages are in `errors`. */
  failed: number;
  errors?: string[];
}

type Column = "ws" | "grpc-js" | "connect" | "grpc-ws" | "gateway";
export const COLUMNS: Array<{ peer: Column; title: string }> = [
  { peer: "ws", title: "raw `ws` (floor)" },
  { peer: "grpc-js", title: "grpc-js" },
  { peer: "connect", title: "connect-node (gRPC)" },
  { peer: "grpc-ws", title: "grpc-ws" },
  { peer: "gateway", title: "grpc-ws gateway -> grpc-js" },
];

interface Row {
  id: string;
  label: string;
  unit: "us" | "/s" | "MB/s" | "KB";
  figures: Partial<Record<PeerKind, Stat>>;
}

export interface Target {
  target: string;
  value: number | undefined;
  goal: number;
  /** "<=" or ">=": how `value` must compare with `goal`. */
  op: "<=" | ">=";
  met: boolean | undefined;
}

export interface Report {
  tool: "grpc-ws bench";
  date: string;
  quick: boolean;
  rounds: number;
  durationS: number;
  commit: string;
  machine: Record<string, unknown>;
  packages: Record<string, string>;
  foreignCpu: { medianCores: number | undefined; maxCores: number | undefined; busy: boolean; note: string };
  rows: Row[];
  targets: Target[];
  memory: MemoryResults | undefined;
  browser: unknown;
  samples: Record<string, Partial<Record<PeerKind, Sample[]>>>;
}

export function stat(values: number[], errors: string[] = []): Stat | undefined {
  if (values.length === 0)
    return errors.length ? { median: NaN, min: NaN, max: NaN, n: 0, failed: errors.length, errors } : undefined;
  return {
    median: median(values),
    min: Math.min(...values),
    max: Math.max(...values),
    n: values.length,
    failed: errors.length,
    ...(errors.length ? { errors } : {}),
  };
}

type Ok = Exclude<Sample, { error: string }>;
const ok = (s: Sample): s is Ok => !("error" in s);

function figures(
  samples: Map<PeerKind, Sample[]> | undefined,
  pick: (s: Ok) => number | undefined,
): Partial<Record<PeerKind, Stat>> {
  const out: Partial<Record<PeerKind, Stat>> = {};
  for (const [peer, list] of samples ?? []) {
    const values = list
      .filter(ok)
      .map(pick)
      .filter((v): v is number => v !== undefined && Number.isFinite(v));
    const st = stat(
      values,
      list.filter((s): s is { error: string } => !ok(s)).map((s) => s.error),
    );
    if (st) out[peer] = st;
  }
  return out;
}

function memFigures(
  m: Partial<Record<PeerKind, MemorySample[]>> | undefined,
  pick: (s: MemorySample) => number,
): Partial<Record<PeerKind, Stat>> {
  const out: Partial<Record<PeerKind, Stat>> = {};
  for (const [peer, list] of Object.entries(m ?? {}) as Array<[PeerKind, MemorySample[]]>) {
    const st = stat(list.map(pick));
    if (st) out[peer] = st;
  }
  return out;
}

export interface ReportInput {
  quick: boolean;
  rounds: number;
  machine: Record<string, unknown>;
  packages: Record<string, string>;
  commit: string;
  durationS: number;
  scenarios: Scenario[];
  samples: Map<string, Map<PeerKind, Sample[]>>;
  memory: MemoryResults | undefined;
  browser: unknown;
}

export function buildReport(i: ReportInput): Report {
  const s = (id: string) => i.samples.get(id);
  const rate = (r: Ok) => r.ops / (r.wallMs / 1000);
  const mem = i.memory;
  const rows: Row[] = [
    { id: "unarySeq.p50", label: "unary sequential p50", unit: "us", figures: figures(s("unarySeq"), (r) => r.p50Us) },
    { id: "unarySeq.rate", label: "unary sequential calls/s", unit: "/s", figures: figures(s("unarySeq"), rate) },
    {
      id: "unaryConc.rate",
      label: "unary, 100 in flight, calls/s",
      unit: "/s",
      figures: figures(s("unaryConc"), rate),
    },
    { id: "ss100.rate", label: "server streaming 100 B, msgs/s", unit: "/s", figures: figures(s("ss100"), rate) },
    {
      id: "ss64k.mbps",
      label: "server streaming 64 KiB, MB/s",
      unit: "MB/s",
      figures: figures(s("ss64k"), (r) => r.bytes / 1e6 / (r.wallMs / 1000)),
    },
    { id: "cs100.rate", label: "client streaming 100 B, msgs/s", unit: "/s", figures: figures(s("cs100"), rate) },
    { id: "pingPong.p50", label: "bidi ping-pong p50", unit: "us", figures: figures(s("pingPong"), (r) => r.p50Us) },
    {
      id: "streams1000.rate",
      label: "1,000 concurrent server streams on one connection, msgs/s",
      unit: "/s",
      figures: figures(s("streams1000"), rate),
    },
    {
      id: "mem.conn",
      label: `server memory per idle connection (${mem?.connections ?? "-"} conns, RSS)`,
      unit: "KB",
      figures: memFigures(mem?.perConnection, (m) => m.rssPer / 1000),
    },
    {
      id: "mem.stream.rss",
      label: `server memory per idle stream (${mem?.streams ?? "-"} on one conn), RSS`,
      unit: "KB",
      figures: memFigures(mem?.perStream, (m) => m.rssPer / 1000),
    },
    {
      id: "mem.stream.heap",
      label: `server memory per idle stream (${mem?.streams ?? "-"} on one conn), heap`,
      unit: "KB",
      figures: memFigures(mem?.perStream, (m) => m.heapPer / 1000),
    },
    {
      id: "cpu.call",
      label: "server CPU per unary call",
      unit: "us",
      figures: figures(s("unarySeq"), (r) => r.serverCpuUs / r.ops),
    },
    {
      id: "cpu.msg",
      label: "server CPU per streamed 100 B message",
      unit: "us",
      figures: figures(s("ss100"), (r) => r.serverCpuUs / r.ops),
    },
    {
      id: "cpu.msg64k",
      label: "server CPU per streamed 64 KiB message",
      unit: "us",
      figures: figures(s("ss64k"), (r) => r.serverCpuUs / r.ops),
    },
  ];
  const foreign = [...i.samples.values()]
    .flatMap((m) => [...m.values()].flat())
    .filter(ok)
    .map((r) => r.foreignCores)
    .filter((v): v is number => v !== undefined);
  const fMed = foreign.length ? median(foreign) : undefined;
  const fMax = foreign.length ? Math.max(...foreign) : undefined;
  const busy = fMed !== undefined && fMed > 0.25;
  const cores = Number(i.machine.cores) || 0;
  const note =
    fMed === undefined
      ? "foreign CPU not measured (no /proc/stat)"
      : `${busy ? "The machine was busy: " : "Quiet machine: "}other processes used a median ${fMed.toFixed(2)} (max ${fMax!.toFixed(2)}) of ${cores} cores during the timed runs` +
        (busy
          ? "; absolute figures are lower than on a quiet machine, ratios within the run much less affected."
          : ".");
  return {
    tool: "grpc-ws bench",
    date: new Date().toISOString(),
    quick: i.quick,
    rounds: i.rounds,
    durationS: i.durationS,
    commit: i.commit,
    machine: i.machine,
    packages: i.packages,
    foreignCpu: { medianCores: fMed, maxCores: fMax, busy, note },
    rows,
    targets: targets(rows),
    memory: mem,
    browser: i.browser,
    samples: Object.fromEntries([...i.samples].map(([k, v]) => [k, Object.fromEntries(v)])),
  };
}

function targets(rows: Row[]): Target[] {
  const m = (row: string, peer: PeerKind): number | undefined => rows.find((r) => r.id === row)?.figures[peer]?.median;
  // A baseline at or below zero (RSS noise on a tiny per-connection figure) gives no ratio.
  const ratio = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined || !Number.isFinite(a) || !(b > 0) ? undefined : a / b;
  const t = (target: string, value: number | undefined, op: "<=" | ">=", goal: number): Target => ({
    target,
    value,
    op,
    goal,
    met: value === undefined ? undefined : op === "<=" ? value <= goal : value >= goal,
  });
  const ws = m("unarySeq.p50", "ws");
  const gjs = m("unarySeq.p50", "grpc-js");
  return [
    t("unary sequential p50 vs raw ws", ratio(m("unarySeq.p50", "grpc-ws"), ws), "<=", 1.5),
    t(
      "unary sequential calls/s vs grpc-js",
      ratio(m("unarySeq.rate", "grpc-ws"), m("unarySeq.rate", "grpc-js")),
      ">=",
      4,
    ),
    t("unary 100 in flight vs grpc-js", ratio(m("unaryConc.rate", "grpc-ws"), m("unaryConc.rate", "grpc-js")), ">=", 6),
    t("server streaming 100 B vs grpc-js", ratio(m("ss100.rate", "grpc-ws"), m("ss100.rate", "grpc-js")), ">=", 8),
    t(
      "server streaming 100 B vs corked raw ws",
      ratio(m("ss100.rate", "grpc-ws"), m("ss100.rate", "ws-corked")),
      ">=",
      0.4,
    ),
    t("server streaming 64 KiB vs grpc-js", ratio(m("ss64k.mbps", "grpc-ws"), m("ss64k.mbps", "grpc-js")), ">=", 2),
    t("server streaming 64 KiB vs raw ws", ratio(m("ss64k.mbps", "grpc-ws"), m("ss64k.mbps", "ws")), ">=", 0.6),
    t("client streaming 100 B vs grpc-js", ratio(m("cs100.rate", "grpc-ws"), m("cs100.rate", "grpc-js")), ">=", 8),
    t("bidi ping-pong p50 vs grpc-js", ratio(m("pingPong.p50", "grpc-ws"), m("pingPong.p50", "grpc-js")), "<=", 0.7),
    t("1,000 streams vs grpc-js", ratio(m("streams1000.rate", "grpc-ws"), m("streams1000.rate", "grpc-js")), ">=", 4),
    t("memory per idle connection vs raw ws", ratio(m("mem.conn", "grpc-ws"), m("mem.conn", "ws")), "<=", 2),
    t(
      "heap per idle stream, KiB",
      ((v) => (v === undefined ? undefined : (v * 1000) / 1024))(m("mem.stream.heap", "grpc-ws")),
      "<=",
      3,
    ),
    t(
      "gateway unary p50 vs (grpc-js p50 + 1.5 x raw ws p50)",
      ratio(m("unarySeq.p50", "gateway"), gjs === undefined || ws === undefined ? undefined : gjs + 1.5 * ws),
      "<=",
      1,
    ),
    t(
      "gateway 64 KiB streaming vs grpc-js direct",
      ratio(m("ss64k.mbps", "gateway"), m("ss64k.mbps", "grpc-js")),
      ">=",
      0.9,
    ),
  ];
}

function num(v: number, unit: Row["unit"]): string {
  if (!Number.isFinite(v)) return "-";
  if (unit === "/s")
    return v >= 1e6 ? `${(v / 1e6).toFixed(2)} M` : v >= 1e3 ? `${(v / 1e3).toFixed(1)} k` : v.toFixed(0);
  if (unit === "MB/s" || unit === "KB") return v >= 100 ? v.toFixed(0) : v.toFixed(1);
  return v >= 100 ? v.toFixed(0) : v.toFixed(1);
}

function cell(st: Stat | undefined, unit: Row["unit"]): string {
  if (!st) return "—";
  if (st.n === 0) return `failed (${st.errors?.[0]?.slice(0, 60) ?? "error"})`;
  const u = unit === "/s" ? "" : ` ${unit}`;
  const range = st.n > 1 ? ` (${num(st.min, unit)}–${num(st.max, unit)})` : "";
  return `${num(st.median, unit)}${u}${range}${st.failed ? ` [${st.failed} failed]` : ""}`;
}

/** The main table: one row per figure, one column per peer, "median (min–max)". */
export function markdownTable(r: Report): string {
  const lines = [
    `| scenario | ${COLUMNS.map((c) => c.title).join(" | ")} |`,
    `|---|${COLUMNS.map(() => "---").join("|")}|`,
  ];
  for (const row of r.rows) {
    const cells = COLUMNS.map(({ peer }) => {
      let c = cell(row.figures[peer], row.unit);
      if (row.id === "ss100.rate" && peer === "ws" && row.figures["ws-corked"])
        c = `${c} (1 send each); ${cell(row.figures["ws-corked"], row.unit)} (64 sends corked)`;
      return c;
    });
    lines.push(`| ${row.label} | ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}

export function targetsTable(r: Report): string {
  const lines = ["| target | ratio in this run | goal | |", "|---|---|---|---|"];
  for (const t of r.targets) {
    const v = t.value === undefined ? "-" : t.value.toFixed(2);
    lines.push(
      `| ${t.target} | ${v} | ${t.op} ${t.goal} | ${t.met === undefined ? "not measured" : t.met ? "met" : "**missed**"} |`,
    );
  }
  return lines.join("\n");
}

export function printReport(r: Report): void {
  const m = r.machine;
  console.log(`\n## grpc-ws bench${r.quick ? " (--quick: smoke sizes, not for publishing)" : ""}\n`);
  console.log(
    `${m.cores} x ${m.cpuModel}, ${m.memoryGiB} GiB, ${m.os}, node ${m.node}; loopback; ${r.rounds} rounds, medians (min–max); commit ${r.commit}\n`,
  );
  if (r.rows.some((row) => Object.keys(row.figures).length > 0)) {
    console.log(markdownTable(r));
    console.log(`\n${r.foreignCpu.note}\n`);
    console.log(targetsTable(r));
  }
  const b = r.browser as { table?: string } | undefined;
  if (b?.table) console.log(`\n${b.table}`);
}

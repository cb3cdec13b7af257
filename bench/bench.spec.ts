// Smoke check of `npm run bench -- --quick`: it runs end to end (servers, clients, memory, real
// Chromium) and writes a well-formed results file. No timing is asserted: figures are checked to
// exist and be positive, never against a limit.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import type { BrowserResults } from "./browser.js";
import type { Report } from "./report.js";

const benchDir = fileURLToPath(new URL("./", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "grpc-ws-bench-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("npm run bench -- --quick", () => {
  it("writes a results file with every scenario, peer, target, the machine and the browser run", async () => {
    const out = join(dir, "quick.json");
    const tsx = fileURLToPath(new URL("../node_modules/.bin/tsx", import.meta.url));
    await new Promise<void>((resolve, reject) =>
      execFile(
        tsx,
        ["--tsconfig", "../tsconfig.json", "run.ts", "--quick", `--out=${out}`],
        { cwd: benchDir, timeout: 590_000 },
        (e, _stdout, stderr) => (e ? reject(new Error(`bench --quick failed: ${e.message}\n${stderr}`)) : resolve()),
      ),
    );
    const r = JSON.parse(readFileSync(out, "utf8")) as Report;
    expect(r.quick).toBe(true);
    expect(r.machine.cores).toBeGreaterThan(0);
    expect(r.packages["@grpc/grpc-js"]).toMatch(/^\d+\.\d+\.\d+/);
    expect(r.packages["@connectrpc/connect-web"]).toMatch(/^\d+\.\d+\.\d+/);
    expect(r.rows.map((row) => row.id)).toEqual([
      "unarySeq.p50",
      "unarySeq.rate",
      "unaryConc.rate",
      "ss100.rate",
      "ss64k.mbps",
      "cs100.rate",
      "pingPong.p50",
      "streams1000.rate",
      "mem.conn",
      "mem.stream.rss",
      "mem.stream.heap",
      "cpu.call",
      "cpu.msg",
      "cpu.msg64k",
    ]);
    // grpc-ws itself has a figure in every row (memory may shrink to <= 0 in RSS only).
    for (const row of r.rows) {
      const st = row.figures["grpc-ws"];
      expect(st, row.id).toBeDefined();
      expect(st!.n, row.id).toBeGreaterThan(0);
      expect(Number.isFinite(st!.median), row.id).toBe(true);
      if (!row.id.startsWith("mem.")) expect(st!.median, row.id).toBeGreaterThan(0);
    }
    // Every peer of the throughput rows ran.
    for (const peer of ["ws", "ws-corked", "grpc-js", "connect", "gateway"] as const)
      expect(r.rows.find((x) => x.id === "ss100.rate")!.figures[peer]?.n).toBeGreaterThan(0);
    expect(r.targets).toHaveLength(14);
    for (const t of r.targets) {
      if (t.value !== undefined) {
        expect(typeof t.value, t.target).toBe("number");
        continue;
      }
      // Only a baseline at or below zero leaves a ratio out: raw ws's small RSS per connection can read <= 0.
      expect(t.target).toBe("memory per idle connection vs raw ws");
      expect(r.rows.find((x) => x.id === "mem.conn")!.figures.ws!.median).toBeLessThanOrEqual(0);
    }
    expect(typeof r.foreignCpu.note).toBe("string");
    const b = r.browser as BrowserResults;
    expect(b.errors).toEqual([]);
    for (const k of ["grpc-ws", "connect-web", "grpc-web"] as const) {
      expect(b.unaryP50Us[k]!.median).toBeGreaterThan(0);
      expect(b.streamRate[k]!.median).toBeGreaterThan(0);
      expect(b.bundleGzipBytes[k]).toBeGreaterThan(b.bundleGzipBytes["protobuf only"]!);
    }
  }, 600_000); // about a minute on a quiet machine; several on a loaded shared one
});

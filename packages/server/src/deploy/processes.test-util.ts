// Starts bridge processes (bridge-process.test-util.ts) and stops them by PID.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const SCRIPT = fileURLToPath(new URL("./bridge-process.test-util.ts", import.meta.url));
const TSCONFIG = fileURLToPath(new URL("../../../../tsconfig.json", import.meta.url));

/**
 * Bundles the bridge process once (a process that compiles TypeScript on start takes seconds on
 * a loaded machine; a bundle starts in a fraction of one). Returns the file and a cleanup.
 */
export async function bundleBridgeProcess(): Promise<{ file: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "grpc-ws-bridge-"));
  const file = join(dir, "bridge.cjs");
  await build({
    entryPoints: [SCRIPT],
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    outfile: file,
    tsconfig: TSCONFIG,
    external: ["bufferutil", "utf-8-validate"],
    logLevel: "error",
  });
  return { file, remove: () => rm(dir, { recursive: true, force: true }) };
}

export interface BridgeProcess {
  readonly port: number;
  readonly pid: number;
  /** SIGTERM: the bridge drains (close()) and exits; resolves with the status codes it served. */
  drain(): Promise<Record<string, number>>;
  /** SIGKILL, for cleanup after a failure. */
  kill(): void;
}

/** Starts the bundled bridge (from `bundleBridgeProcess`) on `port` (0: a free one). */
export async function startBridgeProcess(bundle: string, port = 0, drainTimeoutMs = 3000): Promise<BridgeProcess> {
  const child: ChildProcess = spawn(process.execPath, [bundle, String(port), String(drainTimeoutMs)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const lines = createInterface({ input: child.stdout! });
  const messages: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  lines.on("line", (line) => {
    messages.push(JSON.parse(line) as Record<string, unknown>);
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const next = async (key: string, timeoutMs: number): Promise<Record<string, unknown>> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = messages.find((m) => key in m);
      if (found) return found;
      if (child.exitCode !== null || Date.now() > deadline)
        throw new Error(`bridge process ${child.pid}: no "${key}" (exit ${child.exitCode}): ${stderr}`);
      await Promise.race([new Promise<void>((r) => waiters.push(r)), exited, new Promise((r) => setTimeout(r, 100))]);
    }
  };
  const ready = await next("port", 20_000).catch((error: unknown) => {
    child.kill("SIGKILL");
    throw error;
  });
  return {
    port: ready.port as number,
    pid: child.pid!,
    async drain() {
      process.kill(child.pid!, "SIGTERM");
      const summary = await next("served", 30_000);
      await exited;
      return summary.served as Record<string, number>;
    },
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
  };
}

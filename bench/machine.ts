// What the machine was and how busy it was: the run's CPU time against the whole machine's.
import { readFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";

/** CPU seconds the whole machine spent busy so far (Linux /proc/stat), or undefined elsewhere. */
export function machineBusySeconds(): number | undefined {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!;
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: busy = all but idle and iowait.
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    return (total - idle) / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  loadAvgAtStart: number[];
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model ?? "unknown",
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    loadAvgAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

const PACKAGES = [
  "ws",
  "@grpc/grpc-js",
  "@connectrpc/connect",
  "@connectrpc/connect-node",
  "@connectrpc/connect-web",
  "@bufbuild/protobuf",
  "esbuild",
  "playwright-core",
];
const GRPC_WS = ["wire", "client", "server"];

/** Installed versions of the peers and of grpc-ws's packages (with the git commit). */
export function packageVersions(): Record<string, string> {
  const root = new URL("../", import.meta.url);
  const version = (path: string): string => {
    try {
      return (JSON.parse(readFileSync(fileURLToPath(new URL(path, root)), "utf8")) as { version: string }).version;
    } catch {
      return "not installed";
    }
  };
  const out: Record<string, string> = {};
  for (const p of PACKAGES) out[p] = version(`node_modules/${p}/package.json`);
  for (const p of GRPC_WS) out[`@grpc-ws/${p}`] = version(`packages/${p}/package.json`);
  return out;
}

// Request/response over a forked child's IPC channel: the orchestrator asks, the child answers.
// Every request has a deadline, so a wedged child ends the run with a clear error, not a hang.
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

type Handlers = Record<string, (arg: unknown) => unknown>;
interface Request {
  id: number;
  op: string;
  arg: unknown;
}
interface Reply {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: string;
}

const BUILD_DIR = fileURLToPath(new URL("./.build/", import.meta.url));

/**
 * Bundles the child entry points (server.ts, client.ts) with esbuild into bench/.build: a child
 * then starts as plain JavaScript, in well under a second even on a loaded machine, instead of
 * compiling TypeScript on every start. npm packages stay external; grpc-ws's sources are bundled.
 */
export async function buildChildren(entries: Record<string, string>): Promise<void> {
  const { build } = await import("esbuild");
  const root = new URL("../", import.meta.url);
  await build({
    entryPoints: Object.fromEntries(
      Object.entries(entries).map(([name, file]) => [name, fileURLToPath(new URL(file, import.meta.url))]),
    ),
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outdir: BUILD_DIR,
    outExtension: { ".js": ".mjs" },
    packages: "external",
    tsconfig: fileURLToPath(new URL("tsconfig.json", root)),
    logLevel: "warning",
  });
}

/** In the child: answers the parent's requests with `handlers`; says "ready" once listening. */
export function serveParent(handlers: Handlers): void {
  const send = process.send?.bind(process);
  if (!send) throw new Error("bench: this file runs as a child of bench/run.ts (no IPC channel)");
  process.on("message", (m: Request) => {
    Promise.resolve()
      .then(() => {
        const h = handlers[m.op];
        if (!h) throw new Error(`unknown op ${m.op}`);
        return h(m.arg);
      })
      .then(
        (value) => send({ id: m.id, ok: true, value } satisfies Reply),
        (e: unknown) =>
          send({ id: m.id, ok: false, error: e instanceof Error ? (e.stack ?? e.message) : String(e) } satisfies Reply),
      );
  });
  // The parent going away ends the child: no orphan servers on a shared machine.
  process.on("disconnect", () => process.exit(0));
  send({ id: 0, ok: true, value: "ready" } satisfies Reply);
}

export interface Child {
  readonly pid: number;
  readonly name: string;
  call<T>(op: string, arg?: unknown, timeoutMs?: number): Promise<T>;
  /** Asks the child to exit, then kills it by its PID if it has not within a second. */
  stop(): Promise<void>;
}

/** Forks the bundled entry `entry` (see buildChildren) and waits for its "ready". */
export async function spawnChild(name: string, entry: string, args: string[], execArgv: string[] = []): Promise<Child> {
  const child: ChildProcess = fork(`${BUILD_DIR}${entry}.mjs`, args, {
    execArgv,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once("exit", (code, signal) => {
      exited = true;
      for (const p of pending.values()) p.reject(new Error(`${name}: exited (code ${code}, signal ${signal})`));
      pending.clear();
      resolve();
    }),
  );
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name}: not ready within 60 s`)), 60_000);
    child.on("message", (r: Reply) => {
      if (r.id === 0) {
        clearTimeout(timer);
        resolve();
        return;
      }
      const p = pending.get(r.id);
      if (!p) return;
      pending.delete(r.id);
      if (r.ok) p.resolve(r.value);
      else p.reject(new Error(`${name}: ${r.error}`));
    });
    void exit.then(() => {
      clearTimeout(timer);
      reject(new Error(`${name}: exited before it was ready`));
    });
  });
  await ready;
  return {
    pid: child.pid!,
    name,
    call<T>(op: string, arg?: unknown, timeoutMs = 120_000): Promise<T> {
      if (exited) return Promise.reject(new Error(`${name}: already exited`));
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${name}: no answer to ${op} within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, {
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v as T);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
        child.send({ id, op, arg } satisfies Request);
      });
    },
    async stop() {
      if (exited) return;
      child.disconnect();
      const timer = setTimeout(() => {
        if (!exited) process.kill(child.pid!, "SIGKILL");
      }, 1000);
      await exit;
      clearTimeout(timer);
    },
  };
}

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";

/** Debian's redis-server: the tests start their own, never a mock. */
export const REDIS_SERVER = "/usr/bin/redis-server";

/** A redis-server the tests started on 127.0.0.1, without persistence; stop() ends it by its PID. */
export interface TestRedis {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** SIGTERM to the PID; resolves once the process has exited. Everything in it is gone. */
  stop(): Promise<void>;
  /** Starts a fresh, empty redis-server on the same port. */
  start(): Promise<void>;
}

/** Starts redis-server on a free port; fails (never skips) with a clear message when it is not installed. */
export async function startRedis(): Promise<TestRedis> {
  if (!existsSync(REDIS_SERVER)) {
    throw new Error(
      `${REDIS_SERVER} is missing: install Debian's "redis-server" package (apt-get install -y redis-server). The chat's Redis tests need a real Redis.`,
    );
  }
  const port = await freePort();
  let child: ChildProcess | undefined;
  const redis: TestRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    get pid() {
      return child?.pid ?? 0;
    },
    async start() {
      child = await spawnRedis(port);
    },
    async stop() {
      const c = child;
      child = undefined;
      if (!c || c.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => c.once("exit", () => resolve()));
      process.kill(c.pid!, "SIGTERM");
      await exited;
    },
  };
  await redis.start();
  return redis;
}

async function spawnRedis(port: number): Promise<ChildProcess> {
  const child = spawn(
    REDIS_SERVER,
    ["--save", "", "--appendonly", "no", "--port", String(port), "--bind", "127.0.0.1"],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => fail(new Error(`redis-server did not start within 10 s on port ${port}:\n${output}`)),
      10_000,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("Ready to accept connections")) done();
    };
    const onExit = (code: number | null) =>
      fail(new Error(`redis-server exited with ${code} on port ${port}:\n${output}`));
    function done() {
      clearTimeout(timer);
      child.stdout!.off("data", onData);
      child.off("exit", onExit);
      child.stdout!.resume();
      child.stderr!.resume();
      resolve();
    }
    function fail(err: Error) {
      clearTimeout(timer);
      if (child.exitCode === null) child.kill("SIGKILL");
      reject(err);
    }
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (c: Buffer) => (output += c.toString()));
    child.once("exit", onExit);
    child.once("error", (err) => fail(err));
  });
  return child;
}

/** A port nobody listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

// A real nginx (the Debian package) on 127.0.0.1, proxying WebSocket upgrades to bridges: its
// config is generated into a temp dir (pid file, logs, temp paths: nothing under /etc or /var),
// it runs in the foreground as our child, and it is stopped by its PID.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const NGINX_BINARY = "/usr/sbin/nginx";

export interface NginxOptions {
  /** Ports of the bridges on 127.0.0.1 that nginx balances across. */
  upstreams: number[];
  /** nginx's `proxy_read_timeout` / `proxy_send_timeout` in seconds. Default 60 (nginx's own default). */
  idleTimeoutS?: number;
}

export interface Nginx {
  readonly port: number;
  readonly pid: number;
  /** ws://127.0.0.1:port/ */
  readonly url: string;
  /** The error log so far (for failure messages). */
  errorLog(): Promise<string>;
  /** Stops nginx (SIGTERM: fast shutdown, open connections cut; SIGKILL after 5 s) and removes its directory. */
  stop(): Promise<void>;
}

/** The `http` block recipe from docs/DEPLOY.md, with test paths and ports. */
export function nginxConfig(dir: string, port: number, options: NginxOptions): string {
  const idle = options.idleTimeoutS ?? 60;
  return `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
${process.getuid?.() === 0 ? "user root;" : ""}
events { worker_connections 1024; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;

  map $http_upgrade $connection_upgrade {
    default upgrade;
    ''      close;
  }
  upstream grpc_ws_bridges {
${options.upstreams.map((p) => `    server 127.0.0.1:${p} max_fails=0;`).join("\n")}
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://grpc_ws_bridges;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_read_timeout ${idle}s;
      proxy_send_timeout ${idle}s;
      proxy_buffering off;
      # A draining bridge answers the upgrade 503, a stopped one refuses it: try the next bridge.
      proxy_next_upstream error timeout http_502 http_503;
      proxy_next_upstream_tries 3;
    }
  }
}
`;
}

/** Starts nginx; throws a clear error when the Debian package is not installed. */
export async function startNginx(options: NginxOptions): Promise<Nginx> {
  if (!existsSync(NGINX_BINARY)) {
    throw new Error(
      `nginx is required for the proxy tests and was not found at ${NGINX_BINARY}: install the Debian package (apt-get install nginx); .ci/run does this`,
    );
  }
  let lastError = "";
  // A port picked free may be taken before nginx binds it: try a few.
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const dir = await mkdtemp(join(tmpdir(), "grpc-ws-nginx-"));
    await writeFile(join(dir, "nginx.conf"), nginxConfig(dir, port, options));
    const child = spawn(NGINX_BINARY, ["-p", dir, "-c", join(dir, "nginx.conf"), "-e", join(dir, "error.log")], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    child.once("error", (error) => (stderr += String(error)));
    const ready = await Promise.race([waitForPort(port, 10_000).then(() => true), exited.then(() => false)]);
    if (ready && child.pid !== undefined) return handle(child, exited, dir, port);
    lastError = stderr + (await readFile(join(dir, "error.log"), "utf8").catch(() => ""));
    child.kill("SIGKILL");
    await rm(dir, { recursive: true, force: true });
    if (!/Address already in use/.test(lastError)) break;
  }
  throw new Error(`nginx did not start: ${lastError}`);
}

function handle(child: ChildProcess, exited: Promise<number | null>, dir: string, port: number): Nginx {
  const pid = child.pid!;
  return {
    port,
    pid,
    url: `ws://127.0.0.1:${port}/`,
    errorLog: () => readFile(join(dir, "error.log"), "utf8").catch(() => ""),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(pid, "SIGTERM");
        let timer: ReturnType<typeof setTimeout> | undefined;
        const killed = new Promise<void>((resolve) => {
          timer = setTimeout(() => {
            if (child.exitCode === null) process.kill(pid, "SIGKILL");
            resolve();
          }, 5_000);
        });
        await Promise.race([exited, killed]);
        clearTimeout(timer);
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

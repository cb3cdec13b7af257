import { parseArgs } from "node:util";
import { startChatServer, type ChatServer } from "./app.js";
import type { ChatBackplane } from "./backplane.js";
import { RedisBackplane } from "./redis-backplane.js";
import { redactUrl } from "./redis-connection.js";

// `npm run chat` lands here. Port: PORT=N, or --port N. Rooms in memory, or in Redis with REDIS_URL=redis://…. Through the root script npm eats the flag:
// `npm run chat -- --port N` arrives as a bare "N", `--port=N` as npm_config_port.
const { values, positionals } = parseArgs({
  options: { port: { type: "string", short: "p" }, host: { type: "string" }, redis: { type: "string" } },
  allowPositionals: true,
  strict: true,
});
const npmPort = process.env["npm_config_port"];
const portArg =
  values.port ??
  positionals[0] ??
  process.env["PORT"] ??
  (npmPort && /^\d+$/.test(npmPort) ? npmPort : undefined) ??
  "8080";
const port = Number(portArg);
if (!/^\d+$/.test(portArg) || port > 65535) {
  console.error(`invalid port: ${portArg}`);
  process.exit(2);
}

const host = values.host ?? process.env["HOST"] ?? "127.0.0.1";
const redisUrl = values.redis ?? (process.env["REDIS_URL"] || undefined);

/** Prints one clear line instead of a stack, and exits non-zero. */
function fatal(line: string): never {
  console.error(`chat: ${line}`);
  process.exit(1);
}

let backplane: ChatBackplane | undefined;
if (redisUrl !== undefined) {
  backplane = await RedisBackplane.connect(redisUrl).catch((err: unknown) =>
    fatal(
      `${err instanceof Error ? err.message : String(err)}. Start Redis there, or unset REDIS_URL to keep the rooms in memory.`,
    ),
  );
}
const server: ChatServer = await startChatServer({ port, host, backplane }).catch((err: unknown) => {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "EADDRINUSE")
    fatal(`port ${port} on ${host} is already in use; pick another with PORT=<n> or --port <n>`);
  if (code === "EACCES") fatal(`no permission to listen on port ${port}; pick one above 1023 with PORT=<n>`);
  if (code === "EADDRNOTAVAIL") fatal(`${host} is not an address of this machine (HOST=${host})`);
  return fatal(err instanceof Error ? err.message : String(err));
});
const where = redisUrl !== undefined ? `rooms in Redis at ${redactUrl(redisUrl)}` : "rooms in memory";
console.log(`chat server listening on ${server.url}  (${where}; open it in two browser windows; Ctrl+C stops)`);

let stopping = false;
const stop = (signal: string) => {
  if (stopping) process.exit(1); // a second Ctrl+C does not wait
  stopping = true;
  console.log(`\n${signal}: stopping`);
  server.close().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
};
process.on("SIGINT", () => stop("SIGINT"));
process.on("SIGTERM", () => stop("SIGTERM"));

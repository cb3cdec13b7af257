import { parseArgs } from "node:util";
import { startChatServer } from "./app.js";

// `npm run chat` lands here. Port: PORT=N, or --port N. Through the root script npm eats the flag:
// `npm run chat -- --port N` arrives as a bare "N", `--port=N` as npm_config_port.
const { values, positionals } = parseArgs({
  options: { port: { type: "string", short: "p" }, host: { type: "string" } },
  allowPositionals: true,
  strict: true,
});
const npmPort = process.env["npm_config_port"];
const portArg =
  values.port ?? positionals[0] ?? process.env["PORT"] ?? (npmPort && /^\d+$/.test(npmPort) ? npmPort : undefined) ?? "8080";
const port = Number(portArg);
if (!/^\d+$/.test(portArg) || port > 65535) {
  console.error(`invalid port: ${portArg}`);
  process.exit(2);
}

const server = await startChatServer({ port, host: values.host ?? process.env["HOST"] ?? "127.0.0.1" });
console.log(`chat server listening on ${server.url}  (open it in two browser windows; Ctrl+C stops)`);

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

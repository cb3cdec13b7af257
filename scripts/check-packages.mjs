// Loads every published package from its built files the way users will (ESM import and CJS
// require, through its package.json "exports") and checks the main exports are there, and that
// internals stay behind "@grpc-ws/wire/internal" (not semver-stable) instead of the main entry.
import { createRequire } from "node:module";
import { existsSync, readFileSync } from "node:fs";

const require = createRequire(import.meta.url);
const expected = {
  "@grpc-ws/wire": ["Session", "Stream", "FrameReader", "FrameWriter", "SUBPROTOCOL", "readMetadata", "createTrailers", "methodPath", "parseMethodPath", "DEFAULT_KEEPALIVE"],
  "@grpc-ws/wire/internal": ["MessageIterator", "pipeMessages", "WritableGate", "Keepalive", "ResetLimiter", "setDeadline", "unref", "headersToMetadata", "traceFromEnv"],
  "@grpc-ws/client": ["createWebSocketTransport", "DEFAULT_RECONNECT", "DEFAULT_KEEPALIVE", "DEFAULT_CONNECT_TIMEOUT_MS"],
  "@grpc-ws/server": ["createWebSocketBridge", "UNKNOWN_ERROR_MESSAGE"],
};
// Names that must not be exported (internals, or removed exports nothing uses).
const absent = {
  "@grpc-ws/wire": ["MessageIterator", "Keepalive", "ResetLimiter", "setDeadline", "unref", "headersToMetadata", "encodeBase64"],
  "@grpc-ws/client": ["codeFromErrorCode"],
};
let failures = 0;
const fail = (message) => (console.error(message), failures++);
for (const [name, names] of Object.entries(expected)) {
  const [scope, pkgName, ...sub] = name.split("/");
  const pkg = JSON.parse(readFileSync(new URL(`../node_modules/${scope}/${pkgName}/package.json`, import.meta.url), "utf8"));
  const entry = pkg.exports[sub.length ? `./${sub.join("/")}` : "."];
  if (!entry) {
    fail(`${name}: no "exports" entry`);
    continue;
  }
  for (const file of [entry.import.types, entry.require.types]) {
    if (!existsSync(new URL(`../node_modules/${scope}/${pkgName}/${file}`, import.meta.url))) fail(`${name}: missing ${file}`);
  }
  const esm = await import(name);
  const cjs = require(name);
  for (const exported of names) {
    if (esm[exported] === undefined) fail(`${name} (ESM): no export ${exported}`);
    if (cjs[exported] === undefined) fail(`${name} (CJS): no export ${exported}`);
  }
  for (const hidden of absent[name] ?? []) {
    if (esm[hidden] !== undefined) fail(`${name}: exports ${hidden}, which belongs behind @grpc-ws/wire/internal or is gone`);
  }
}
if (failures > 0) process.exit(1);
console.log(`packages: ${Object.keys(expected).length} entry points load as ESM and CJS with their types`);

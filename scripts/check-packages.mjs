// Loads every published package from its built files the way users will (ESM import and CJS
// require, through its package.json "exports") and checks the main exports are there, that
// internals stay behind "@grpc-ws/wire/internal" (not semver-stable) instead of the main entry,
// that each tarball (`npm pack --dry-run`) carries LICENSE, README.md and every file "exports"
// names, and that the README links with absolute URLs (relative ones break on the registry).
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { existsSync, readFileSync } from "node:fs";

const require = createRequire(import.meta.url);
const expected = {
  "@grpc-ws/wire": [
    "Session",
    "Stream",
    "FrameReader",
    "FrameWriter",
    "SUBPROTOCOL",
    "readMetadata",
    "createTrailers",
    "methodPath",
    "parseMethodPath",
    "DEFAULT_KEEPALIVE",
    "ConnectionBudget",
    "DEFAULT_BUDGETS",
    "resolveBudgets",
  ],
  "@grpc-ws/wire/internal": [
    "MessageIterator",
    "pipeMessages",
    "WritableGate",
    "Keepalive",
    "setDeadline",
    "unref",
    "headersToMetadata",
    "traceFromEnv",
  ],
  "@grpc-ws/client": [
    "createWebSocketTransport",
    "DEFAULT_RECONNECT",
    "DEFAULT_KEEPALIVE",
    "DEFAULT_CONNECT_TIMEOUT_MS",
  ],
  "@grpc-ws/server": ["createWebSocketBridge", "UNKNOWN_ERROR_MESSAGE", "DEFAULT_LIMITS"],
};
// Names that must not be exported (internals, or removed exports nothing uses).
const absent = {
  "@grpc-ws/wire": [
    "MessageIterator",
    "Keepalive",
    "ResetLimiter",
    "setDeadline",
    "unref",
    "headersToMetadata",
    "encodeBase64",
  ],
  "@grpc-ws/client": ["codeFromErrorCode"],
};
let failures = 0;
const fail = (message) => (console.error(message), failures++);
for (const [name, names] of Object.entries(expected)) {
  const [scope, pkgName, ...sub] = name.split("/");
  const pkg = JSON.parse(
    readFileSync(new URL(`../node_modules/${scope}/${pkgName}/package.json`, import.meta.url), "utf8"),
  );
  const entry = pkg.exports[sub.length ? `./${sub.join("/")}` : "."];
  if (!entry) {
    fail(`${name}: no "exports" entry`);
    continue;
  }
  for (const file of [entry.import.types, entry.require.types]) {
    if (!existsSync(new URL(`../node_modules/${scope}/${pkgName}/${file}`, import.meta.url)))
      fail(`${name}: missing ${file}`);
  }
  const esm = await import(name);
  const cjs = require(name);
  for (const exported of names) {
    if (esm[exported] === undefined) fail(`${name} (ESM): no export ${exported}`);
    if (cjs[exported] === undefined) fail(`${name} (CJS): no export ${exported}`);
  }
  for (const hidden of absent[name] ?? []) {
    if (esm[hidden] !== undefined)
      fail(`${name}: exports ${hidden}, which belongs behind @grpc-ws/wire/internal or is gone`);
  }
}

function exportedFiles(value) {
  if (typeof value === "string") return [value];
  return Object.values(value ?? {}).flatMap(exportedFiles);
}

for (const name of ["@grpc-ws/wire", "@grpc-ws/client", "@grpc-ws/server"]) {
  const dir = new URL(`../node_modules/${name}/`, import.meta.url);
  const pkg = JSON.parse(readFileSync(new URL("package.json", dir), "utf8"));
  const out = execFileSync("npm", ["pack", "--dry-run", "--json"], {
    cwd: dir,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  const packed = new Set(JSON.parse(out)[0].files.map((f) => f.path));
  for (const file of [
    "LICENSE",
    "README.md",
    "package.json",
    ...exportedFiles(pkg.exports).map((f) => f.replace(/^\.\//, "")),
  ]) {
    if (!packed.has(file)) fail(`${name}: the tarball has no ${file}`);
  }
  for (const [, target] of readFileSync(new URL("README.md", dir), "utf8").matchAll(/\]\(([^)\s]+)\)/g)) {
    if (!/^(https?:|mailto:|#)/.test(target))
      fail(`${name}: README.md links to ${target}, which breaks on the registry`);
    const inRepo = /^https:\/\/github\.com\/grpc-ws\/grpc-ws\/(?:blob|tree)\/main\/([^#]+)/.exec(target);
    if (inRepo && !existsSync(new URL(`../${inRepo[1]}`, import.meta.url)))
      fail(`${name}: README.md links to ${target}, which does not exist in this repository`);
  }
  for (const field of ["repository", "homepage", "bugs", "license"]) {
    if (pkg[field] === undefined) fail(`${name}: package.json has no "${field}"`);
  }
}
if (failures > 0) process.exit(1);
console.log(
  `packages: ${Object.keys(expected).length} entry points load as ESM and CJS with their types; tarballs carry LICENSE and README`,
);

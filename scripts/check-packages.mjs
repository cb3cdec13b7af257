// Loads every published package from its built files the way users will (ESM import and CJS
// require, through each entry of its package.json "exports") and checks the main exports are there;
// checks each tarball (`npm pack --dry-run`) carries LICENSE, README.md and every file "exports"
// names, and that the README links with absolute URLs (relative ones break on the registry).
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { existsSync, readFileSync } from "node:fs";

const require = createRequire(import.meta.url);
const expected = {
  "@grpc-ws/wire": ["Session", "FrameReader", "FrameWriter", "SUBPROTOCOL", "readMetadata", "createTrailers"],
  "@grpc-ws/client": ["createWebSocketTransport"],
  "@grpc-ws/server": ["createWebSocketBridge"],
};
let failures = 0;
function fail(message) {
  console.error(message);
  failures++;
}
for (const [name, names] of Object.entries(expected)) {
  const pkg = JSON.parse(readFileSync(new URL(`../node_modules/${name}/package.json`, import.meta.url), "utf8"));
  for (const [subpath, conditions] of Object.entries(pkg.exports)) {
    if (subpath === "./package.json") continue;
    const specifier = subpath === "." ? name : `${name}/${subpath.slice(2)}`;
    for (const file of [conditions.import.types, conditions.require.types]) {
      if (!existsSync(new URL(`../node_modules/${name}/${file}`, import.meta.url))) fail(`${specifier}: missing ${file}`);
    }
    const esm = await import(specifier);
    const cjs = require(specifier);
    if (Object.keys(esm).length === 0) fail(`${specifier} (ESM): no exports`);
    if (Object.keys(cjs).length === 0) fail(`${specifier} (CJS): no exports`);
    if (subpath !== ".") continue;
    for (const exported of names) {
      if (esm[exported] === undefined) fail(`${name} (ESM): no export ${exported}`);
      if (cjs[exported] === undefined) fail(`${name} (CJS): no export ${exported}`);
    }
  }
}

function exportedFiles(value) {
  if (typeof value === "string") return [value];
  return Object.values(value ?? {}).flatMap(exportedFiles);
}

for (const name of Object.keys(expected)) {
  const dir = new URL(`../node_modules/${name}/`, import.meta.url);
  const pkg = JSON.parse(readFileSync(new URL("package.json", dir), "utf8"));
  const out = execFileSync("npm", ["pack", "--dry-run", "--json"], { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  const packed = new Set(JSON.parse(out)[0].files.map((f) => f.path));
  for (const file of ["LICENSE", "README.md", "package.json", ...exportedFiles(pkg.exports).map((f) => f.replace(/^\.\//, ""))]) {
    if (!packed.has(file)) fail(`${name}: the tarball has no ${file}`);
  }
  for (const [, target] of readFileSync(new URL("README.md", dir), "utf8").matchAll(/\]\(([^)\s]+)\)/g)) {
    if (!/^(https?:|mailto:|#)/.test(target)) fail(`${name}: README.md links to ${target}, which breaks on the registry`);
    const inRepo = /^https:\/\/github\.com\/grpc-ws\/grpc-ws\/(?:blob|tree)\/main\/([^#]+)/.exec(target);
    if (inRepo && !existsSync(new URL(`../${inRepo[1]}`, import.meta.url))) fail(`${name}: README.md links to ${target}, which does not exist in this repository`);
  }
  for (const field of ["repository", "homepage", "bugs", "license"]) {
    if (pkg[field] === undefined) fail(`${name}: package.json has no "${field}"`);
  }
}
if (failures > 0) process.exit(1);
console.log(`packages: ${Object.keys(expected).length} load as ESM and CJS with their types, every "exports" entry; tarballs carry LICENSE and README`);

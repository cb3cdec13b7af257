// Loads every published package from its built files the way users will (ESM import and CJS
// require, through each entry of its package.json "exports") and checks the main exports are there.
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
if (failures > 0) process.exit(1);
console.log(`packages: ${Object.keys(expected).length} load as ESM and CJS with their types, every "exports" entry`);

// Loads every published package from its built files the way users will (ESM import and CJS
// require, through its package.json "exports") and checks the main exports are there.
import { createRequire } from "node:module";
import { existsSync, readFileSync } from "node:fs";

const require = createRequire(import.meta.url);
const expected = {
  "@grpc-ws/wire": ["Session", "FrameReader", "FrameWriter", "SUBPROTOCOL", "readMetadata", "createTrailers"],
  "@grpc-ws/client": ["createWebSocketTransport"],
  "@grpc-ws/server": ["createWebSocketBridge"],
};
let failures = 0;
for (const [name, names] of Object.entries(expected)) {
  const pkg = JSON.parse(readFileSync(new URL(`../node_modules/${name}/package.json`, import.meta.url), "utf8"));
  for (const file of [pkg.exports["."].import.types, pkg.exports["."].require.types]) {
    if (!existsSync(new URL(`../node_modules/${name}/${file}`, import.meta.url))) {
      console.error(`${name}: missing ${file}`);
      failures++;
    }
  }
  const esm = await import(name);
  const cjs = require(name);
  for (const exported of names) {
    if (esm[exported] === undefined) (console.error(`${name} (ESM): no export ${exported}`), failures++);
    if (cjs[exported] === undefined) (console.error(`${name} (CJS): no export ${exported}`), failures++);
  }
}
if (failures > 0) process.exit(1);
console.log(`packages: ${Object.keys(expected).length} load as ESM and CJS with their types`);

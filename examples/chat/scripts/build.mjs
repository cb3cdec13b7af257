// Builds the chat example: the browser bundle (public/app.js, minified; prints its
// min+gzip size) and the Node server (dist/server.js). The @grpc-ws packages are
// bundled from their TypeScript sources, so a fresh clone needs only `npm ci`.
// Usage: node scripts/build.mjs [--web-only]
import { mkdir, rename, stat, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { readFileSync } from "node:fs";
import * as esbuild from "esbuild";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const example = fileURLToPath(new URL("../", import.meta.url));
const webOnly = process.argv.includes("--web-only");

/** Resolves @grpc-ws/* to packages/<name>/src/index.ts (the workspace links point at unbuilt dist/). */
const workspaceSources = {
  name: "grpc-ws-sources",
  setup(build) {
    build.onResolve({ filter: /^@grpc-ws\/(wire|client|server)$/ }, (args) => ({
      path: `${root}packages/${args.path.slice("@grpc-ws/".length)}/src/index.ts`,
    }));
  },
};

const started = performance.now();

/** Builds in memory, then replaces each output file at once: a build running beside this one (two test files) never reads half a file. */
async function build(options) {
  const result = await esbuild.build({ ...options, write: false });
  for (const file of result.outputFiles) {
    const tmp = `${file.path}.${process.pid}.tmp`;
    await mkdir(dirname(file.path), { recursive: true });
    await writeFile(tmp, file.contents);
    await rename(tmp, file.path);
  }
}

await build({
  entryPoints: [`${example}src/web/main.ts`],
  outfile: `${example}public/app.js`,
  bundle: true,
  minify: true,
  sourcemap: "linked",
  format: "esm",
  platform: "browser",
  target: ["es2022"],
  legalComments: "none",
  logLevel: "warning",
  plugins: [workspaceSources],
});

const js = readFileSync(`${example}public/app.js`);
const css = readFileSync(`${example}public/styles.css`);
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
console.log(
  `chat: public/app.js ${kib(js.byteLength)} min, ${kib(gzipSync(js, { level: 9 }).byteLength)} min+gzip` +
    ` (styles.css ${kib(gzipSync(css, { level: 9 }).byteLength)} gzip)`,
);

if (!webOnly) {
  await build({
    entryPoints: [`${example}src/server/main.ts`],
    outfile: `${example}dist/server.js`,
    bundle: true,
    format: "esm",
    platform: "node",
    target: ["node20"],
    sourcemap: "inline",
    // npm dependencies stay external (ws & co. load from node_modules); only our sources are bundled.
    packages: "external",
    logLevel: "warning",
    plugins: [workspaceSources],
  });
  const { size } = await stat(`${example}dist/server.js`);
  console.log(`chat: dist/server.js ${kib(size)}; built in ${Math.round(performance.now() - started)} ms`);
}

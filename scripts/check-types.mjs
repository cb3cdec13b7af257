// Checks that the types of every published package resolve for every entry in its "exports" map,
// under each way TypeScript resolves modules (node16 from CJS and from ESM, bundler), by packing
// the package once as it would be published and running @arethetypeswrong/cli on the tarball.
// The package root is also checked under node10 resolution (the "types" field), which does not
// read "exports", so subpaths are checked with the node16 profile only. Runs after `npm run build`.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const attw = fileURLToPath(new URL("../node_modules/@arethetypeswrong/cli/dist/index.js", import.meta.url));

const packDir = mkdtempSync(`${tmpdir()}/grpc-ws-attw-`);
process.on("exit", () => rmSync(packDir, { recursive: true, force: true }));

function pack(dir) {
  const out = execFileSync("npm", ["pack", "--json", "--pack-destination", packDir], { cwd: dir, encoding: "utf8" });
  return `${packDir}/${JSON.parse(out)[0].filename}`;
}

function attwRun(tarball, profile, entrypoints) {
  const args = [attw, tarball, "--profile", profile, "--format", "table", "--no-color", "--no-emoji"];
  execFileSync(process.execPath, [...args, "--entrypoints", ...entrypoints], { stdio: ["ignore", "pipe", "pipe"] });
}

let failures = 0;
let checked = 0;
for (const name of readdirSync(`${root}packages`)) {
  const dir = `${root}packages/${name}`;
  const pkg = JSON.parse(readFileSync(`${dir}/package.json`, "utf8"));
  if (pkg.private) continue;
  if (typeof pkg.exports !== "object" || pkg.exports === null) {
    console.error(`${pkg.name}: package.json has no "exports" map`);
    failures++;
    continue;
  }
  const entrypoints = Object.keys(pkg.exports).filter((key) => key !== "./package.json");
  const runs = [
    ["strict", ["."]],
    ["node16", entrypoints],
  ];
  const tarball = pack(dir);
  const before = failures;
  for (const [profile, list] of runs) {
    try {
      attwRun(tarball, profile, list);
    } catch (e) {
      console.error(`${pkg.name}: types do not resolve (attw --profile ${profile} --entrypoints ${list.join(" ")}):`);
      console.error(String(e.stdout ?? ""), String(e.stderr ?? e.message));
      failures++;
    }
  }
  if (failures === before) console.log(`${pkg.name}: types resolve for ${entrypoints.join(", ")}`);
  checked++;
}
if (failures > 0) process.exit(1);
if (checked === 0) {
  console.error("no published packages found under packages/");
  process.exit(1);
}
console.log(`types: ${checked} packages checked with attw`);

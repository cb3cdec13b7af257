// The browser build must not pull in `ws` or any Node built-in: isomorphic-ws resolves to its
// browser file (a re-export of the global WebSocket) under esbuild's platform=browser.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../../", import.meta.url));

describe("browser bundle", () => {
  it("contains no ws and no Node built-ins", async () => {
    const result = await build({
      entryPoints: [fileURLToPath(new URL("./index.ts", import.meta.url))],
      bundle: true,
      platform: "browser",
      format: "esm",
      write: false,
      metafile: true,
      logLevel: "silent",
      tsconfig: `${root}tsconfig.json`,
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.some((p) => p.includes("node_modules/isomorphic-ws/browser.js"))).toBe(true);
    expect(inputs.filter((p) => p.includes("node_modules/ws/") || p.includes("isomorphic-ws/node.js"))).toEqual([]);
    const code = result.outputFiles[0]!.text;
    expect(code).not.toMatch(/\brequire\(["'](node:|ws|net|tls|http|https|events|stream|crypto|buffer)/);
    expect(code).not.toMatch(/from ["']node:/);
  });
});

import { defineConfig } from "tsup";

// Every published package builds the same way: ESM + CJS + .d.ts from src/index.ts.
export default defineConfig({
  entry: ["src/index.ts"],
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "es2022",
  tsconfig: "tsconfig.json",
});

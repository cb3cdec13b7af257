import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

// Tests run against the TypeScript sources; `npm run build` checks the published bundles separately.
export default defineConfig({
  resolve: {
    alias: {
      // Subpaths before their package, which would otherwise take them as a prefix match.
      "@grpc-ws/wire/internal": fileURLToPath(new URL("./packages/wire/src/internal.ts", import.meta.url)),
      "@grpc-ws/wire": src("wire"),
      "@grpc-ws/client": src("client"),
      "@grpc-ws/server": src("server"),
      "@grpc-ws/interop/page-server": fileURLToPath(new URL("./packages/interop/src/page-server.ts", import.meta.url)),
      "@grpc-ws/interop": src("interop"),
    },
  },
  test: {
    include: ["packages/*/src/**/*.spec.ts", "examples/*/**/*.spec.ts", "bench/**/*.spec.ts"],
    exclude: ["**/node_modules/**", "**/dist/**"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});

import base from "../../tsup.config.base.js";

// "@grpc-ws/wire/internal": glue shared by client and server, not semver-stable.
export default { ...base, entry: ["src/index.ts", "src/internal.ts"] };

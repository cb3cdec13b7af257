// Browser-safe subset (no @grpc/grpc-js, no Node built-ins): the cases and the Connect ServiceImpl.
export * from "./util.js";
export * from "./test-service.js";
export * from "./cases.js";
export * from "./compression-cases.js";

export * from "./browser.js";
// Node only.
export * from "./grpc-js-server.js";
export * from "./connect-node-server.js";
export * from "./chromium.js";

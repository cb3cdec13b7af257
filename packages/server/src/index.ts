export { createWebSocketBridge, type WebSocketBridge, type AttachOptions, type ListenOptions } from "./bridge.js";
export type { WebSocketBridgeOptions, CallEndInfo } from "./options.js";
export type {
  UpstreamConfig,
  UpstreamTarget,
  UpstreamRouter,
  UpstreamHooks,
  UpstreamRequestContext,
  UpstreamCallInfo,
  UpstreamTlsOptions,
  UpstreamKeepalive,
} from "./upstream/config.js";
export { UNKNOWN_ERROR_MESSAGE } from "./error-trailers.js";
export { gzipNode as compressionGzip } from "./compression-gzip.js";

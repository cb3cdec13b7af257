export { createWebSocketBridge, type WebSocketBridge, type AttachOptions, type ListenOptions } from "./bridge.js";
export type { WebSocketBridgeOptions, CallEndInfo } from "./options.js";
export { DEFAULT_LIMITS, type ConnectionLimits } from "./limits/options.js";
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
export { createHealthHandler, type HealthOptions, type HealthHandler } from "./health.js";
export type { MetricsEndpoint } from "./bridge.js";
export type { ConnectionAgeOptions } from "./connection-age.js";
export type { TelemetryOptions, OpenTelemetryApi } from "./telemetry/options.js";
export type { OriginPolicy } from "./access/origin.js";
export type { AuthenticateHook, AuthenticateContext, Authenticated } from "./access/authenticate.js";
export type { UpgradeRequest, UpgradeTls } from "./access/upgrade-request.js";
export type { RefusalInfo } from "./access/refusal.js";
export {
  connectionKey,
  connectionOf,
  type ConnectionInfo,
  type ConnectionCloseInfo,
} from "./access/connection-info.js";
export { CREDENTIALS_EXPIRED } from "./access/expiry.js";
export { gzipNode as compressionGzip } from "./compression-gzip.js";
export { messageCompressionKey, type MessageCompression } from "@grpc-ws/wire";

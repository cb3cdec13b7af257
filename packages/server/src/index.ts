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
export { createHealthHandler, type HealthOptions, type HealthHandler } from "./health.js";
export type { MetricsEndpoint } from "./bridge.js";
export type { ConnectionInfo, ConnectionCloseInfo } from "./connection-info.js";
export type { ConnectionAgeOptions } from "./connection-age.js";
export type { TelemetryOptions, OpenTelemetryApi } from "./telemetry/options.js";

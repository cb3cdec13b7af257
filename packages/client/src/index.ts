export { createWebSocketTransport, type WebSocketTransport } from "./transport.js";
export type { ConnectionState, WebSocketTransportOptions, ReconnectOptions, KeepaliveSettings } from "./options.js";
export { DEFAULT_RECONNECT, DEFAULT_KEEPALIVE, DEFAULT_CONNECT_TIMEOUT_MS } from "./options.js";
export type { WebSocketConstructor, WebSocketLike } from "./websocket.js";
export { createTelemetryInterceptor } from "./telemetry.js";
export type { TelemetryOptions, OpenTelemetryApi } from "@grpc-ws/wire";
export { MAX_TRANSPARENT_RETRIES, REPLAY_LIMIT_BYTES } from "./transparent-retry.js";
export type { TokenSource } from "./credentials.js";

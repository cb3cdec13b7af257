// The options are wire's, shared with the client.
export type { OpenTelemetryApi, TelemetryOptions } from "@grpc-ws/wire";

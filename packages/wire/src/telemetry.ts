import type {
  ContextAPI,
  MeterProvider,
  MetricsAPI,
  PropagationAPI,
  TextMapPropagator,
  TraceAPI,
  TracerProvider,
} from "@opentelemetry/api";
import type { Metadata } from "./metadata.js";

// What the client's and the server's OpenTelemetry instrumentation share. Types only: no runtime
// dependency on OpenTelemetry here (the carrier below is structurally a TextMapGetter/Setter).

/**
 * The parts of `@opentelemetry/api` the instrumentation uses. Pass the module itself
 * (`import * as otel from "@opentelemetry/api"`): grpc-ws never imports it, so it stays an
 * optional peer dependency that costs nothing to those who do not use it, in Node and in bundles.
 */
export interface OpenTelemetryApi {
  readonly trace: TraceAPI;
  readonly context: ContextAPI;
  readonly propagation: PropagationAPI;
  readonly metrics: MetricsAPI;
}

/** OpenTelemetry spans and metrics per the RPC semantic conventions. */
export interface TelemetryOptions {
  /** The `@opentelemetry/api` module. */
  api: OpenTelemetryApi;
  /** Where spans go. Default: the global one of `api` (`api.trace.getTracerProvider()`). */
  tracerProvider?: TracerProvider;
  /** Where measurements go. Default: the global one of `api` (`api.metrics.getMeterProvider()`). */
  meterProvider?: MeterProvider;
  /**
   * Writes (client) and reads (server) `traceparent` / `tracestate` in call metadata; in gateway
   * mode the bridge writes its own span's into the forwarded call. Default: the global one of
   * `api` (`api.propagation`), which the OpenTelemetry SDKs set to W3C Trace Context.
   */
  propagator?: TextMapPropagator;
}

/** Checks that `options.api` is the OpenTelemetry API module; returns it. */
export function telemetryApi(options: TelemetryOptions): OpenTelemetryApi {
  const api = options?.api;
  if (
    !api ||
    typeof api.trace?.getTracerProvider !== "function" ||
    typeof api.metrics?.getMeterProvider !== "function" ||
    typeof api.context?.with !== "function"
  ) {
    throw new TypeError(
      'grpc-ws: telemetry.api must be the @opentelemetry/api module (import * as otel from "@opentelemetry/api")',
    );
  }
  return api;
}

/** The instrumentation's own code for the span kinds and status of `@opentelemetry/api` (imported here as types only). */
export const SPAN_KIND_SERVER = 1;
export const SPAN_KIND_CLIENT = 2;
export const SPAN_STATUS_ERROR = 2;

/** `rpc.system` of every span and measurement. */
export const RPC_SYSTEM = "grpc";

/**
 * Reads and writes text entries of wire metadata for an OpenTelemetry propagator
 * (`traceparent`, `tracestate`, `baggage`). Setting a name replaces every earlier entry of it, so
 * a forwarded call carries the bridge's span, not the caller's.
 */
export const metadataCarrier = {
  get(carrier: Metadata, key: string): string | undefined {
    for (const [name, value] of carrier) if (name === key && typeof value === "string") return value;
    return undefined;
  },
  keys(carrier: Metadata): string[] {
    return carrier.map(([name]) => name);
  },
  set(carrier: Metadata, key: string, value: string): void {
    for (let i = carrier.length - 1; i >= 0; i--) if (carrier[i]![0] === key) carrier.splice(i, 1);
    carrier.push([key, value]);
  },
};

import type { ContextAPI, MeterProvider, MetricsAPI, PropagationAPI, TextMapPropagator, TraceAPI, TracerProvider } from "@opentelemetry/api";

/**
 * The parts of `@opentelemetry/api` the instrumentation uses. Pass the module itself
 * (`import * as otel from "@opentelemetry/api"`): grpc-ws never imports it, so it stays an
 * optional peer dependency that costs nothing to those who do not use it.
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
   * Reads `traceparent` / `tracestate` from call metadata and, in gateway mode, writes the bridge
   * span's into the forwarded call. Default: the global one of `api` (`api.propagation`), which
   * the OpenTelemetry SDKs set to W3C Trace Context.
   */
  propagator?: TextMapPropagator;
}

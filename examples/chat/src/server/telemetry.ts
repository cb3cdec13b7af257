// The chat turns on everything grpc-ws offers operators: Prometheus text on GET /metrics of its
// own port, and OpenTelemetry spans exported over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT
// (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, as the OpenTelemetry specification names them.
import type { IncomingMessage, ServerResponse } from "node:http";
import * as api from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { TelemetryOptions } from "@grpc-ws/server";

export interface ChatTelemetry {
  /** For the bridge's `telemetry` option. */
  readonly options: TelemetryOptions;
  /** Where spans go, or undefined when no OTLP endpoint is configured. */
  readonly tracesUrl: string | undefined;
  /** Answers GET /metrics (Prometheus text) and returns true; false for every other request. */
  metrics(request: IncomingMessage, response: ServerResponse): boolean;
  /** Flushes the spans still batched and stops the providers. */
  shutdown(): Promise<void>;
}

/** The OTLP/HTTP traces URL the standard variables name, if any. */
export function otlpTracesUrl(env: NodeJS.ProcessEnv): string | undefined {
  const traces = env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"];
  if (traces) return traces;
  const base = env["OTEL_EXPORTER_OTLP_ENDPOINT"];
  return base ? `${base.replace(/\/+$/, "")}/v1/traces` : undefined;
}

export function chatTelemetry(env: NodeJS.ProcessEnv = process.env): ChatTelemetry {
  // Handler spans nest under the bridge's span only with a context manager.
  api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const prometheus = new PrometheusExporter({ preventServerStart: true });
  const meterProvider = new MeterProvider({ readers: [prometheus] });
  const tracesUrl = otlpTracesUrl(env);
  const tracerProvider = tracesUrl
    ? new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: tracesUrl }))] })
    : undefined;
  const options: TelemetryOptions = {
    api,
    meterProvider,
    propagator: new W3CTraceContextPropagator(),
    ...(tracerProvider ? { tracerProvider } : {}),
  };
  return {
    options,
    tracesUrl,
    metrics(request, response) {
      if (request.method !== "GET" || (request.url ?? "").split("?")[0] !== "/metrics") return false;
      prometheus.getMetricsRequestHandler(request, response);
      return true;
    },
    async shutdown() {
      await tracerProvider?.shutdown();
      await meterProvider.shutdown();
    },
  };
}

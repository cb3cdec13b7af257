// OpenTelemetry as an application would run it, for the instrumentation-overhead rows of
// calls.ts: the SDK's tracer with a batch processor (spans exported to a sink that drops them),
// a meter whose reader is the Prometheus exporter (every measurement aggregated), the W3C
// propagator and an AsyncLocalStorage context manager.
import * as api from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
} from "@opentelemetry/sdk-trace-base";
import type { TelemetryOptions } from "@grpc-ws/wire";

export function benchTelemetry(): { options: TelemetryOptions; exported: () => number; shutdown: () => Promise<void> } {
  api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  let exported = 0;
  const sink: SpanExporter = {
    export(spans: ReadableSpan[], done) {
      exported += spans.length;
      done({ code: 0 });
    },
    shutdown: async () => {},
  };
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(sink)] });
  const meterProvider = new MeterProvider({ readers: [new PrometheusExporter({ preventServerStart: true })] });
  return {
    options: { api, tracerProvider, meterProvider, propagator: new W3CTraceContextPropagator() },
    exported: () => exported,
    shutdown: async () => {
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
    },
  };
}

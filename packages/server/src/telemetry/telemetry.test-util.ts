// The OpenTelemetry SDK wired to in-memory exporters, for the telemetry specs of both packages.
import * as api from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type DataPoint,
  type MetricData,
} from "@opentelemetry/sdk-metrics";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from "@opentelemetry/sdk-trace-base";

// Handler spans nest under the bridge's only with a real context manager, as in an application.
api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

export interface TestTelemetry {
  readonly api: typeof api;
  readonly tracerProvider: BasicTracerProvider;
  readonly meterProvider: MeterProvider;
  readonly propagator: W3CTraceContextPropagator;
  /** Spans ended so far. */
  spans(): ReadableSpan[];
  /** Every metric, as the SDK exports it now (cumulative). */
  metrics(): Promise<MetricData[]>;
  /** The data points of one metric whose attributes include `match`. */
  points(name: string, match?: Record<string, unknown>): Promise<Array<DataPoint<unknown>>>;
  shutdown(): Promise<void>;
}

export function createTestTelemetry(): TestTelemetry {
  const spanExporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spanExporter)] });
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // The interval never fires in a test: forceFlush() exports.
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
  const meterProvider = new MeterProvider({ readers: [reader] });
  const telemetry: TestTelemetry = {
    api,
    tracerProvider,
    meterProvider,
    propagator: new W3CTraceContextPropagator(),
    spans: () => spanExporter.getFinishedSpans(),
    async metrics() {
      metricExporter.reset();
      await reader.forceFlush();
      return metricExporter.getMetrics().flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics));
    },
    async points(name, match = {}) {
      const metric = (await telemetry.metrics()).find((m) => m.descriptor.name === name);
      if (!metric) return [];
      return (metric.dataPoints as Array<DataPoint<unknown>>).filter((p) =>
        Object.entries(match).every(([k, v]) => p.attributes[k] === v),
      );
    },
    async shutdown() {
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
    },
  };
  return telemetry;
}

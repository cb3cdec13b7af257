import type { Attributes, Counter, Histogram, SpanKind, SpanStatusCode, TextMapSetter } from "@opentelemetry/api";
import { Code, ConnectError, type Interceptor, type StreamResponse } from "@connectrpc/connect";
import type { TelemetryOptions } from "@grpc-ws/wire";
import { RPC_SYSTEM, SPAN_KIND_CLIENT, SPAN_STATUS_ERROR, telemetryApi } from "@grpc-ws/wire/internal";

const INSTRUMENTATION = "@grpc-ws/client";
const KIND_CLIENT = SPAN_KIND_CLIENT as SpanKind;
const STATUS_ERROR = SPAN_STATUS_ERROR as SpanStatusCode;
const DURATION_BUCKETS_MS = [
  0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000,
];

const headerSetter: TextMapSetter<Headers> = {
  set: (carrier, key, value) => carrier.set(key, value),
};

/**
 * OpenTelemetry for every call of a transport, as the outermost interceptor: a CLIENT span per
 * call (RPC semantic conventions), `traceparent` / `tracestate` written into the call's metadata
 * so the bridge's span (and in gateway mode the upstream's) joins the caller's trace, and the
 * `rpc.client.duration` histogram plus the `grpc.client.call.started` counter.
 */
export function createTelemetryInterceptor(url: string, options: TelemetryOptions): Interceptor {
  const api = telemetryApi(options);
  const tracer = (options.tracerProvider ?? api.trace.getTracerProvider()).getTracer(INSTRUMENTATION);
  const meter = (options.meterProvider ?? api.metrics.getMeterProvider()).getMeter(INSTRUMENTATION);
  const duration: Histogram = meter.createHistogram("rpc.client.duration", {
    unit: "ms",
    description: "Duration of calls made by the client, until the status arrived.",
    advice: { explicitBucketBoundaries: DURATION_BUCKETS_MS },
  });
  const started: Counter = meter.createCounter("grpc.client.call.started", {
    description: "Calls the client started (one per call, transparent retries included in it).",
  });
  const propagator = options.propagator ?? api.propagation;
  const server = new URL(url.replace(/^ws/i, "http"));
  const serverAddress = server.hostname.replace(/^\[|\]$/g, "");
  const serverPort = Number(server.port || (server.protocol === "https:" ? 443 : 80));

  // Attribute objects and span names per method, made once.
  const byMethod = new WeakMap<object, { name: string; metric: Attributes; span: Attributes; byCode: Attributes[] }>();
  const attributesOf = (service: string, method: string, key: object) => {
    let a = byMethod.get(key);
    if (!a) {
      const metric = { "rpc.system": RPC_SYSTEM, "rpc.service": service, "rpc.method": method };
      a = {
        name: `${service}/${method}`,
        metric,
        span: { ...metric, "server.address": serverAddress, "server.port": serverPort },
        byCode: [],
      };
      byMethod.set(key, a);
    }
    return a;
  };

  return (next) => async (req) => {
    const attrs = attributesOf(req.service.typeName, req.method.name, req.method);
    const metricAttributes = attrs.metric;
    started.add(1, metricAttributes);
    const parent = api.context.active();
    const span = tracer.startSpan(attrs.name, { kind: KIND_CLIENT, attributes: attrs.span }, parent);
    const context = api.trace.setSpan(parent, span);
    propagator.inject(context, req.header, headerSetter);
    const startedAt = performance.now();
    let ended = false;
    const end = (error: unknown): void => {
      if (ended) return;
      ended = true;
      const code = error === undefined ? 0 : ConnectError.from(error).code;
      duration.record(
        performance.now() - startedAt,
        (attrs.byCode[code] ??= { ...metricAttributes, "rpc.grpc.status_code": code }),
      );
      span.setAttribute("rpc.grpc.status_code", code);
      if (code !== 0) {
        span.setStatus({ code: STATUS_ERROR, message: ConnectError.from(error).rawMessage });
        if (error instanceof Error) span.recordException(error);
      }
      span.end();
    };
    try {
      const res = await api.context.with(context, () => next(req));
      if (!res.stream) {
        end(undefined);
        return res;
      }
      return { ...res, message: endWith(res, end) } as typeof res;
    } catch (error) {
      end(error);
      throw error;
    }
  };
}

// A streaming call ends when its response stream does: done, an error, or the caller's return().
function endWith<O>(res: StreamResponse, end: (error: unknown) => void): AsyncIterable<O> {
  const source = res.message as AsyncIterable<O>;
  return {
    [Symbol.asyncIterator]() {
      const it = source[Symbol.asyncIterator]();
      return {
        async next() {
          try {
            const r = await it.next();
            if (r.done) end(undefined);
            return r;
          } catch (error) {
            end(error);
            throw error;
          }
        },
        async return(value?: unknown) {
          end(new ConnectError("the caller stopped reading the response stream", Code.Canceled));
          return (await it.return?.(value)) ?? { done: true, value: undefined };
        },
      } as AsyncIterator<O>;
    },
  };
}

import type { Attributes, Context, Span, SpanKind, SpanStatusCode, Tracer } from "@opentelemetry/api";
import { ErrorCodeName, Status, StatusName, parseMethodPath, type Metadata } from "@grpc-ws/wire";
import { RPC_SYSTEM, SPAN_KIND_SERVER, SPAN_STATUS_ERROR, metadataCarrier, telemetryApi } from "@grpc-ws/wire/internal";
import type { ConnectionInfo } from "../access/connection-info.js";
import type { MessageSizes } from "../server-call.js";
import { createBridgeInstruments, type BridgeInstruments } from "./instruments.js";
import type { OpenTelemetryApi, TelemetryOptions } from "./options.js";

const INSTRUMENTATION = "@grpc-ws/server";
const KIND_SERVER = SPAN_KIND_SERVER as SpanKind;
const STATUS_ERROR = SPAN_STATUS_ERROR as SpanStatusCode;
// Per the gRPC semantic conventions, a server span is an error only for these codes.
const SERVER_ERRORS: ReadonlySet<Status> = new Set([
  Status.UNKNOWN,
  Status.DEADLINE_EXCEEDED,
  Status.UNIMPLEMENTED,
  Status.INTERNAL,
  Status.UNAVAILABLE,
  Status.DATA_LOSS,
]);

/** Where a call arrived: the connection's id and addresses (from its `ConnectionInfo`). */
interface CallSite {
  readonly connectionId: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The upgrade request's `Host`, without the port. */
  readonly serverAddress: string;
  readonly serverPort: number | undefined;
}

/** A method's attributes: for its spans and, per status code, for its duration histogram. */
interface MethodAttributes {
  readonly service: string;
  readonly method: string;
  readonly metric: Attributes;
  readonly byCode: Attributes[];
}

const MAX_CACHED_METHODS = 1024;

/** Why the bridge refused an upgrade, as the `reason` attribute of `grpc_ws.server.upgrades_refused`. */
export type UpgradeRefusal = "shutting_down" | "no_subprotocol" | (string & {});

/** The bridge's OpenTelemetry instrumentation: one per bridge, created from `TelemetryOptions`. */
export class BridgeTelemetry {
  private readonly api: OpenTelemetryApi;
  private readonly tracer: Tracer;
  readonly instruments: BridgeInstruments;
  private readonly propagator: TelemetryOptions["propagator"];
  private readonly byPath = new Map<string, MethodAttributes>();
  private readonly sites = new WeakMap<ConnectionInfo, CallSite>();

  constructor(options: TelemetryOptions) {
    const api = telemetryApi(options);
    this.api = api;
    this.tracer = (options.tracerProvider ?? api.trace.getTracerProvider()).getTracer(INSTRUMENTATION);
    this.instruments = createBridgeInstruments(
      (options.meterProvider ?? api.metrics.getMeterProvider()).getMeter(INSTRUMENTATION),
    );
    this.propagator = options.propagator;
  }

  connectionOpened(): void {
    this.instruments.connections.add(1);
  }

  connectionClosed(): void {
    this.instruments.connections.add(-1);
  }

  upgradeRefused(reason: UpgradeRefusal): void {
    this.instruments.upgradesRefused.add(1, { reason });
  }

  goAwaySent(code: number): void {
    this.instruments.goAwaysSent.add(1, { "grpc_ws.error_code": ErrorCodeName[code] ?? String(code) });
  }

  keepaliveTimedOut(): void {
    this.instruments.keepaliveTimeouts.add(1);
  }

  stalled(): void {
    this.instruments.stalls.add(1);
  }

  received(bytes: number): void {
    this.instruments.bytesReceived.add(bytes);
  }

  sent(bytes: number): void {
    this.instruments.bytesSent.add(bytes);
  }

  private siteOf(connection: ConnectionInfo): CallSite {
    let site = this.sites.get(connection);
    if (!site) {
      const { remoteAddress, remotePort, headers } = connection.request;
      const host = hostOf(headers.host);
      site = {
        connectionId: connection.id,
        remoteAddress: remoteAddress ?? "",
        remotePort: remotePort ?? 0,
        serverAddress: host.address,
        serverPort: host.port,
      };
      this.sites.set(connection, site);
    }
    return site;
  }

  /**
   * A call's HEADERS arrived (at `startedAt`, `performance.now()`, the call's own start): starts its
   * span (a child of the caller's `traceparent`) and counts it.
   */
  startCall(path: string, headers: Metadata, connection: ConnectionInfo, startedAt: number): CallTelemetry {
    const site = this.siteOf(connection);
    const api = this.api;
    const attrs = this.methodAttributes(path);
    const { service, method } = attrs;
    const metricAttributes = attrs.metric;
    this.instruments.callsStarted.add(1, metricAttributes);
    this.instruments.streams.add(1);
    const parent = (this.propagator ?? api.propagation).extract(api.context.active(), headers, metadataCarrier);
    const attributes: Attributes = {
      ...metricAttributes,
      "server.address": site.serverAddress,
      "network.peer.address": site.remoteAddress,
      "network.peer.port": site.remotePort,
      "grpc_ws.connection.id": site.connectionId,
    };
    if (site.serverPort !== undefined) attributes["server.port"] = site.serverPort;
    const span = this.tracer.startSpan(
      service ? `${service}/${method}` : path,
      { kind: KIND_SERVER, attributes },
      parent,
    );
    return new CallTelemetry(this, span, api.trace.setSpan(parent, span), attrs, startedAt);
  }

  // Attribute objects per method, made once: the SDK copies them, and every call would otherwise
  // build the same ones. Bounded, since the path comes from the client.
  private methodAttributes(path: string): MethodAttributes {
    let attrs = this.byPath.get(path);
    if (attrs) return attrs;
    // A malformed path keeps the whole path as the method.
    const { service, method } = parseMethodPath(path) ?? { service: "", method: path };
    attrs = {
      service,
      method,
      metric: { "rpc.system": RPC_SYSTEM, "rpc.service": service, "rpc.method": method },
      byCode: [],
    };
    if (this.byPath.size < MAX_CACHED_METHODS) this.byPath.set(path, attrs);
    return attrs;
  }

  /** @internal */
  runIn<T>(context: Context, fn: () => T): T {
    return this.api.context.with(context, fn);
  }

  /** @internal */
  inject(context: Context, headers: Metadata): void {
    (this.propagator ?? this.api.propagation).inject(context, headers, metadataCarrier);
  }
}

/** One call's span and measurements. */
export class CallTelemetry implements MessageSizes {
  private ended = false;

  constructor(
    private readonly owner: BridgeTelemetry,
    private readonly span: Span,
    private readonly context: Context,
    private readonly attributes: MethodAttributes,
    private readonly startedAt: number,
  ) {}

  /** Runs `fn` with the call's span active, so that spans the handler starts are its children. */
  run<T>(fn: () => T): T {
    return this.owner.runIn(this.context, fn);
  }

  /** Gateway mode: the forwarded call's `traceparent` names the bridge's span as the parent. */
  injectInto(headers: Metadata): void {
    this.owner.inject(this.context, headers);
  }

  request(bytes: number): void {
    this.owner.instruments.requestSize.record(bytes, this.attributes.metric);
  }

  response(bytes: number): void {
    this.owner.instruments.responseSize.record(bytes, this.attributes.metric);
  }

  end(code: Status, message: string, error: unknown): void {
    if (this.ended) return;
    this.ended = true;
    const instruments = this.owner.instruments;
    instruments.streams.add(-1);
    const byCode = this.attributes.byCode;
    const withCode = (byCode[code] ??= { ...this.attributes.metric, "rpc.grpc.status_code": code });
    instruments.callDuration.record(performance.now() - this.startedAt, withCode);
    const span = this.span;
    span.setAttribute("rpc.grpc.status_code", code);
    if (SERVER_ERRORS.has(code)) {
      span.setStatus({ code: STATUS_ERROR, message: message || StatusName[code] });
      if (error instanceof Error) span.recordException(error);
    }
    span.end();
  }
}

/** `Host: example.com:8443` -> { address: "example.com", port: 8443 }; IPv6 brackets removed. */
function hostOf(host = ""): { address: string; port: number | undefined } {
  const match = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(host);
  const address = (match?.[1] ?? host).replace(/^\[|\]$/g, "");
  const port = match?.[2] !== undefined ? Number(match[2]) : undefined;
  return { address, port };
}

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createWebSocketTransport, type WebSocketTransport } from "@grpc-ws/client";
import { GRPC_WEBSOCKETS, encodeClientData } from "@grpc-ws/wire";
import { createTestServiceImpl, startGrpcJsTestServer, type GrpcJsTestServer } from "@grpc-ws/interop";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import parsePrometheus from "parse-prometheus-text-format";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { WebSocket } from "ws";
import { SimpleRequestSchema } from "../../../../gen/grpc/testing/messages_pb.js";
import { TestService } from "../../../../gen/grpc/testing/test_pb.js";
import {
  createWebSocketBridge,
  type CallEndInfo,
  type ConnectionCloseInfo,
  type ConnectionInfo,
  type WebSocketBridge,
} from "../index.js";
import { httpGet as get, until } from "../test-client.test-util.js";
import { createTestTelemetry, type TestTelemetry } from "./telemetry.test-util.js";

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN_ID = "00f067aa0ba902b7";
const TRACEPARENT = `00-${TRACE_ID}-${PARENT_SPAN_ID}-01`;

let otel: TestTelemetry;
let upstream: GrpcJsTestServer;
let bridge: WebSocketBridge;
let url: string;
const ended: CallEndInfo[] = [];
const opened: ConnectionInfo[] = [];
const closed: ConnectionCloseInfo[] = [];
const transports: WebSocketTransport[] = [];

function client(): ReturnType<typeof createClient<typeof TestService>> {
  const transport = createWebSocketTransport({ url });
  transports.push(transport);
  return createClient(TestService, transport);
}

beforeAll(async () => {
  otel = createTestTelemetry();
  upstream = await startGrpcJsTestServer();
  const tracer = otel.tracerProvider.getTracer("handler");
  bridge = createWebSocketBridge({
    routes: (router) =>
      router.service(TestService, {
        ...createTestServiceImpl(),
        // In process: a span the handler starts is a child of the bridge's span.
        unaryCall: (req) =>
          tracer.startActiveSpan("handler work", (span) => {
            span.end();
            if (req.responseStatus?.code)
              throw new ConnectError(req.responseStatus.message, req.responseStatus.code as Code);
            return {};
          }),
        // Everything else of TestService goes upstream below.
        emptyCall: undefined as never,
      }),
    upstream: upstream.baseUrl,
    telemetry: {
      api: otel.api,
      tracerProvider: otel.tracerProvider,
      meterProvider: otel.meterProvider,
      propagator: otel.propagator,
    },
    onCallEnd: (info) => ended.push(info),
    onConnectionOpen: (info) => opened.push(info),
    onConnectionClose: (info) => closed.push(info),
  });
  ({ url } = await bridge.listen());
});

afterEach(async () => {
  await Promise.all(transports.splice(0).map((t) => t.close()));
  await until(() => bridge.connections === 0, "the bridge to see every socket close");
});

afterAll(async () => {
  await bridge?.close({ drainTimeoutMs: 100 });
  await upstream?.close();
  await otel?.shutdown();
});

describe("spans", () => {
  test("an in-process call has a SERVER span per the RPC conventions, child of the caller's traceparent, parent of the handler's spans", async () => {
    ended.length = 0;
    await client().unaryCall(create(SimpleRequestSchema, {}), { headers: { traceparent: TRACEPARENT } });
    await until(() => otel.spans().some((s) => s.name === "grpc.testing.TestService/UnaryCall"), "the server span");
    const span = otel.spans().find((s) => s.name === "grpc.testing.TestService/UnaryCall")!;
    expect(span.kind).toBe(otel.api.SpanKind.SERVER);
    expect(span.spanContext().traceId).toBe(TRACE_ID);
    expect(span.parentSpanContext?.spanId).toBe(PARENT_SPAN_ID);
    expect(span.attributes).toMatchObject({
      "rpc.system": "grpc",
      "rpc.service": "grpc.testing.TestService",
      "rpc.method": "UnaryCall",
      "rpc.grpc.status_code": 0,
      "server.address": "127.0.0.1",
      "network.peer.address": "127.0.0.1",
    });
    expect(span.attributes["server.port"]).toBe(Number(new URL(url).port));
    expect(span.attributes["grpc_ws.connection.id"]).toBe(ended[0]!.connection.id);
    expect(span.status.code).toBe(otel.api.SpanStatusCode.UNSET);
    const child = otel.spans().find((s) => s.name === "handler work")!;
    expect(child.parentSpanContext?.spanId).toBe(span.spanContext().spanId);
    expect(child.spanContext().traceId).toBe(TRACE_ID);
  });

  test("server span status is ERROR only for the codes the gRPC conventions name", async () => {
    const c = client();
    await expect(c.unaryCall({ responseStatus: { code: Code.Internal, message: "boom" } })).rejects.toThrow("boom");
    await expect(c.unaryCall({ responseStatus: { code: Code.NotFound, message: "nope" } })).rejects.toThrow("nope");
    await until(
      () => otel.spans().filter((s) => s.attributes["rpc.grpc.status_code"] === Code.NotFound).length === 1,
      "both spans",
    );
    const internal = otel.spans().find((s) => s.attributes["rpc.grpc.status_code"] === Code.Internal)!;
    const notFound = otel.spans().find((s) => s.attributes["rpc.grpc.status_code"] === Code.NotFound)!;
    expect(internal.status).toEqual({ code: otel.api.SpanStatusCode.ERROR, message: "boom" });
    expect(notFound.status.code).toBe(otel.api.SpanStatusCode.UNSET);
  });

  test("gateway mode: the upstream receives a traceparent naming the bridge's span, in the caller's trace", async () => {
    upstream.clearEvents();
    await client().emptyCall({}, { headers: { traceparent: TRACEPARENT, tracestate: "vendor=1" } });
    const span = otel.spans().find((s) => s.name === "grpc.testing.TestService/EmptyCall")!;
    expect(span.parentSpanContext?.spanId).toBe(PARENT_SPAN_ID);
    const received = upstream.events.calls.at(-1)!.metadata;
    expect(received.get("traceparent")).toEqual([`00-${TRACE_ID}-${span.spanContext().spanId}-01`]);
    expect(received.get("tracestate")).toEqual(["vendor=1"]);
  });

  test("a call without traceparent starts a new trace", async () => {
    const before = otel.spans().length;
    await client().unaryCall({});
    await until(() => otel.spans().length > before, "a span");
    const span = otel
      .spans()
      .filter((s) => s.name === "grpc.testing.TestService/UnaryCall")
      .at(-1)!;
    expect(span.parentSpanContext).toBeUndefined();
    expect(span.spanContext().traceId).not.toBe(TRACE_ID);
  });
});

describe("metrics", () => {
  test("call duration and calls started per method and status; connections and streams go back to zero", async () => {
    const c = client();
    await c.unaryCall({});
    await c.unaryCall({});
    await expect(c.unaryCall({ responseStatus: { code: Code.Aborted, message: "x" } })).rejects.toThrow();
    const ok = await otel.points("rpc.server.duration", { "rpc.method": "UnaryCall", "rpc.grpc.status_code": 0 });
    expect(ok).toHaveLength(1);
    expect((ok[0]!.value as { count: number }).count).toBeGreaterThanOrEqual(2);
    const aborted = await otel.points("rpc.server.duration", {
      "rpc.method": "UnaryCall",
      "rpc.grpc.status_code": Code.Aborted,
    });
    expect((aborted[0]!.value as { count: number }).count).toBe(1);
    const started = await otel.points("grpc.server.call.started", {
      "rpc.service": "grpc.testing.TestService",
      "rpc.method": "UnaryCall",
    });
    expect(started[0]!.value).toBeGreaterThanOrEqual(3);
    expect((await otel.points("grpc_ws.server.connections"))[0]!.value).toBe(1);
    expect((await otel.points("grpc_ws.server.streams"))[0]!.value).toBe(0);
    expect((await otel.points("grpc_ws.server.bytes_received"))[0]!.value).toBeGreaterThan(0);
    expect((await otel.points("grpc_ws.server.bytes_sent"))[0]!.value).toBeGreaterThan(0);
    await Promise.all(transports.splice(0).map((t) => t.close()));
    await until(() => bridge.connections === 0, "the socket to close");
    expect((await otel.points("grpc_ws.server.connections"))[0]!.value).toBe(0);
  });

  test("request and response message sizes, in process and forwarded", async () => {
    const c = client();
    const sizes = async (name: string, method: string) => {
      const points = await otel.points(name, { "rpc.method": method });
      return points[0]?.value as { count: number; min: number; max: number } | undefined;
    };
    // In process: two responses of payload { type, body: 7 | 9 bytes }.
    for await (const _ of c.streamingOutputCall({ responseParameters: [{ size: 7 }, { size: 9 }] }));
    const out = await sizes("rpc.server.response.size", "StreamingOutputCall");
    expect(out).toMatchObject({ count: 2, min: 7 + 4, max: 9 + 4 });
    expect((await sizes("rpc.server.request.size", "StreamingOutputCall"))!.count).toBe(1);
    // Forwarded (EmptyCall goes upstream here): one empty message each way.
    const before = (await sizes("rpc.server.request.size", "EmptyCall"))?.count ?? 0;
    await c.emptyCall({});
    expect(await sizes("rpc.server.request.size", "EmptyCall")).toMatchObject({ count: before + 1, max: 0 });
    expect((await sizes("rpc.server.response.size", "EmptyCall"))!.count).toBe(before + 1);
  });

  test("an upgrade without the subprotocol is counted as refused, with its reason", async () => {
    const ws = new WebSocket(url, "not-grpc-ws");
    await new Promise((resolve) => ws.on("error", resolve));
    const refused = await otel.points("grpc_ws.server.upgrades_refused", { reason: "no_subprotocol" });
    expect(refused[0]!.value).toBe(1);
  });
});

describe("connection hooks", () => {
  test("open and close carry the id and peer that onCallEnd reports", async () => {
    ended.length = opened.length = closed.length = 0;
    const c = client();
    await c.unaryCall({});
    await c.unaryCall({});
    await Promise.all(transports.splice(0).map((t) => t.close()));
    await until(() => closed.length === 1, "onConnectionClose");
    expect(opened).toHaveLength(1);
    const info = opened[0]!;
    expect(info.id).toMatch(/^[0-9a-f]{8}-\d+$/);
    expect(info.request.remoteAddress).toBe("127.0.0.1");
    expect(info.request.remotePort).toBeGreaterThan(0);
    expect(ended.map((e) => e.connection.id)).toEqual([info.id, info.id]);
    expect(ended[0]!.connection.request.remotePort).toBe(info.request.remotePort);
    expect(closed[0]).toMatchObject({ id: info.id, calls: 2 });
    expect(closed[0]!.durationMs).toBeGreaterThanOrEqual(0);
    expect(closed[0]!.reason).toMatch(/close code 1000/);
  });

  test("ids differ between connections", async () => {
    opened.length = 0;
    await client().unaryCall({});
    await client().unaryCall({});
    expect(opened).toHaveLength(2);
    expect(opened[0]!.id).not.toBe(opened[1]!.id);
  });
});

describe("Prometheus", () => {
  test("the OpenTelemetry Prometheus exporter's text on listen()'s /metrics parses and holds the bridge's metrics", async () => {
    const exporter = new PrometheusExporter({ preventServerStart: true });
    const meterProvider = new MeterProvider({ readers: [exporter] });
    const scraped = createWebSocketBridge({
      routes: (router) => router.service(TestService, createTestServiceImpl()),
      telemetry: { api: otel.api, meterProvider },
    });
    const { url: scrapedUrl, port } = await scraped.listen({
      metrics: { handler: (req, res) => exporter.getMetricsRequestHandler(req, res) },
    });
    try {
      const transport = createWebSocketTransport({ url: scrapedUrl });
      transports.push(transport);
      await createClient(TestService, transport).emptyCall({});
      const { status, body } = await get(port, "/metrics");
      expect(status).toBe(200);
      const families = parsePrometheus(body);
      const byName = new Map(families.map((f) => [f.name, f]));
      const duration = byName.get("rpc_server_duration")!;
      expect(duration.type).toBe("HISTOGRAM");
      // One call, so one histogram series (the parser keeps only the buckets of a histogram series).
      expect(duration.metrics).toHaveLength(1);
      expect(duration.metrics[0]!.buckets?.["+Inf"]).toBe("1");
      const started = byName.get("grpc_server_call_started_total")!;
      expect(started.type).toBe("COUNTER");
      expect(started.metrics).toHaveLength(1);
      expect(started.metrics[0]!.labels).toMatchObject({
        rpc_system: "grpc",
        rpc_service: "grpc.testing.TestService",
        rpc_method: "EmptyCall",
      });
      expect(Number(started.metrics[0]!.value)).toBe(1);
      expect(Number(byName.get("grpc_ws_server_connections")!.metrics[0]!.value)).toBe(1);
      expect(Number(byName.get("grpc_ws_server_bytes_received_total")!.metrics[0]!.value)).toBeGreaterThan(0);
    } finally {
      await Promise.all(transports.splice(0).map((t) => t.close()));
      await scraped.close({ drainTimeoutMs: 100 });
      await meterProvider.shutdown();
    }
  });
});

describe("client telemetry", () => {
  function tracedClient() {
    const transport = createWebSocketTransport({
      url,
      telemetry: {
        api: otel.api,
        tracerProvider: otel.tracerProvider,
        meterProvider: otel.meterProvider,
        propagator: otel.propagator,
      },
    });
    transports.push(transport);
    return createClient(TestService, transport);
  }

  test("one trace from the client span through the bridge span to the upstream grpc-js server", async () => {
    upstream.clearEvents();
    const root = otel.tracerProvider.getTracer("app").startSpan("page action");
    await otel.api.context.with(otel.api.trace.setSpan(otel.api.context.active(), root), () =>
      tracedClient().emptyCall({}),
    );
    root.end();
    const clientSpan = otel
      .spans()
      .find((s) => s.name === "grpc.testing.TestService/EmptyCall" && s.kind === otel.api.SpanKind.CLIENT)!;
    const serverSpan = otel
      .spans()
      .find(
        (s) =>
          s.name === "grpc.testing.TestService/EmptyCall" &&
          s.kind === otel.api.SpanKind.SERVER &&
          s.parentSpanContext?.spanId === clientSpan.spanContext().spanId,
      )!;
    const traceId = root.spanContext().traceId;
    expect(clientSpan.parentSpanContext?.spanId).toBe(root.spanContext().spanId);
    expect(clientSpan.spanContext().traceId).toBe(traceId);
    expect(serverSpan.spanContext().traceId).toBe(traceId);
    expect(clientSpan.attributes).toMatchObject({
      "rpc.system": "grpc",
      "rpc.service": "grpc.testing.TestService",
      "rpc.method": "EmptyCall",
      "rpc.grpc.status_code": 0,
      "server.address": "127.0.0.1",
      "server.port": Number(new URL(url).port),
    });
    expect(upstream.events.calls.at(-1)!.metadata.get("traceparent")).toEqual([
      `00-${traceId}-${serverSpan.spanContext().spanId}-01`,
    ]);
  });

  test("a failed call's client span is ERROR with the status; a stream's span ends with the stream", async () => {
    const client = tracedClient();
    await expect(client.unaryCall({ responseStatus: { code: Code.NotFound, message: "gone" } })).rejects.toThrow(
      "gone",
    );
    const failed = otel
      .spans()
      .filter((s) => s.kind === otel.api.SpanKind.CLIENT && s.attributes["rpc.grpc.status_code"] === Code.NotFound);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.status).toEqual({ code: otel.api.SpanStatusCode.ERROR, message: "gone" });

    const before = otel
      .spans()
      .filter(
        (s) => s.name === "grpc.testing.TestService/StreamingOutputCall" && s.kind === otel.api.SpanKind.CLIENT,
      ).length;
    const it = client
      .streamingOutputCall({ responseParameters: [{ size: 1 }, { size: 1, intervalUs: 100_000 }] })
      [Symbol.asyncIterator]();
    await it.next();
    const count = () =>
      otel
        .spans()
        .filter((s) => s.name === "grpc.testing.TestService/StreamingOutputCall" && s.kind === otel.api.SpanKind.CLIENT)
        .length;
    expect(count()).toBe(before);
    await it.next();
    expect((await it.next()).done).toBe(true);
    expect(count()).toBe(before + 1);

    const points = await otel.points("rpc.client.duration", {
      "rpc.method": "UnaryCall",
      "rpc.grpc.status_code": Code.NotFound,
    });
    expect((points[0]!.value as { count: number }).count).toBe(1);
    const started = await otel.points("grpc.client.call.started", { "rpc.method": "StreamingOutputCall" });
    expect(started[0]!.value).toBeGreaterThanOrEqual(1);
  });

  test("telemetry.api that is not the OpenTelemetry API fails at creation", () => {
    expect(() => createWebSocketTransport({ url, telemetry: { api: {} as never } })).toThrow(/@opentelemetry\/api/);
    expect(() => createWebSocketBridge({ telemetry: { api: {} as never } })).toThrow(/@opentelemetry\/api/);
  });
});

describe("grpc-websockets front end", () => {
  test("its call gets a SERVER span and both connection hooks, with the connection's id", async () => {
    ended.length = opened.length = closed.length = 0;
    const spansBefore = otel.spans().length;
    const ws = new WebSocket(`${url.replace(/\/$/, "")}/grpc.testing.TestService/UnaryCall`, [GRPC_WEBSOCKETS]);
    const closedSocket = new Promise<void>((resolve) => ws.on("close", () => resolve()));
    await new Promise<void>((resolve, reject) => {
      ws.on("open", () => resolve());
      ws.on("error", reject);
    });
    // Header block, one empty message (flag 0, length 0), end of the client stream.
    ws.send(new Uint8Array(0));
    ws.send(encodeClientData(new Uint8Array(5)));
    ws.send(Uint8Array.of(1));
    await closedSocket;
    await until(() => closed.length === 1, "onConnectionClose");
    expect(opened).toHaveLength(1);
    const id = opened[0]!.id;
    expect(id).toMatch(/^[0-9a-f]{8}-\d+$/);
    expect(ended.map((e) => [e.code, e.connection.id])).toEqual([[0, id]]);
    expect(closed[0]).toMatchObject({ id, calls: 1 });
    const span = otel
      .spans()
      .slice(spansBefore)
      .find((x) => x.name === "grpc.testing.TestService/UnaryCall");
    expect(span?.kind).toBe(otel.api.SpanKind.SERVER);
    expect(span?.attributes["grpc_ws.connection.id"]).toBe(id);
  });
});

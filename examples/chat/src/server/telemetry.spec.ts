import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createClient } from "@connectrpc/connect";
import { createWebSocketTransport } from "@grpc-ws/client";
import parsePrometheus from "parse-prometheus-text-format";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChatService } from "../../../../gen/chat/v1/chat_pb.js";
import { startChatServer, type ChatServer } from "./app.js";
import { otlpTracesUrl } from "./telemetry.js";

// The chat with its telemetry on: Prometheus text on its own port, spans to an OTLP/HTTP
// receiver (a plain HTTP server here, standing in for a collector) named by the standard variable.

let receiver: Server;
const exports: Array<{ path: string; type: string; body: string }> = [];
let chat: ChatServer;

function get(port: number, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, path }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body }));
    });
    req.on("error", reject);
    req.end();
  });
}

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (body += chunk));
    req.on("end", () => {
      exports.push({ path: req.url ?? "", type: String(req.headers["content-type"]), body });
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  const saved = process.env["OTEL_EXPORTER_OTLP_ENDPOINT"];
  process.env["OTEL_EXPORTER_OTLP_ENDPOINT"] = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  try {
    chat = await startChatServer({ port: 0, drainTimeoutMs: 100 });
  } finally {
    if (saved === undefined) delete process.env["OTEL_EXPORTER_OTLP_ENDPOINT"];
    else process.env["OTEL_EXPORTER_OTLP_ENDPOINT"] = saved;
  }
});

afterAll(async () => {
  await chat?.close();
  await new Promise((resolve) => receiver?.close(resolve));
});

describe("chat telemetry", () => {
  it("serves Prometheus text on GET /metrics of its port and exports spans over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set", async () => {
    const transport = createWebSocketTransport({ url: `ws://127.0.0.1:${chat.port}/grpc` });
    try {
      await createClient(ChatService, transport).listRooms({});
    } finally {
      await transport.close();
    }
    const metrics = await get(chat.port, "/metrics");
    expect(metrics.status).toBe(200);
    expect(metrics.type).toMatch(/^text\/plain/);
    const families = new Map(parsePrometheus(metrics.body).map((f) => [f.name, f]));
    const started = families.get("grpc_server_call_started_total")!;
    expect(started.metrics.find((m) => m.labels?.rpc_method === "ListRooms")?.labels).toMatchObject({
      rpc_service: "chat.v1.ChatService",
    });
    expect(families.get("rpc_server_duration")?.type).toBe("HISTOGRAM");
    expect(families.has("grpc_ws_server_connections")).toBe(true);
    // The page is still served beside it.
    expect((await get(chat.port, "/")).status).toBe(200);

    await chat.close(); // flushes the batched spans
    const traces = exports.filter((e) => e.path === "/v1/traces");
    expect(traces.length).toBeGreaterThan(0);
    expect(traces.map((t) => t.body).join("")).toContain("chat.v1.ChatService/ListRooms");
  });

  it("reads the standard variables for the OTLP traces URL", () => {
    expect(otlpTracesUrl({})).toBeUndefined();
    expect(otlpTracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/" })).toBe(
      "http://collector:4318/v1/traces",
    );
    expect(
      otlpTracesUrl({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://a:4318",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://b/traces",
      }),
    ).toBe("http://b/traces");
  });
});

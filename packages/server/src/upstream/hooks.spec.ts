// The per-call hooks: onRequest adds, strips and rejects metadata on the way up (sync and async,
// on a target and on a router), onCallEnd reports each forwarded call; -bin metadata passes unchanged.
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createWebSocketTransport, type WebSocketTransport } from "@grpc-ws/client";
import { startGrpcJsTestServer, type GrpcJsTestServer } from "@grpc-ws/interop";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestService } from "../../../../gen/grpc/testing/test_pb.js";
import { createWebSocketBridge, type WebSocketBridge } from "../index.js";
import type { UpstreamCallInfo, UpstreamConfig } from "./config.js";

const BYTES = new Uint8Array([0, 1, 2, 0x7f, 0x80, 0xfd, 0xfe, 0xff]);

let upstream: GrpcJsTestServer;
const open: Array<{ close(): Promise<unknown> }> = [];

beforeAll(async () => {
  upstream = await startGrpcJsTestServer();
});

afterAll(async () => {
  for (const o of open.reverse()) await o.close();
  await upstream?.close();
});

async function gateway(upstreamConfig: UpstreamConfig): Promise<WebSocketTransport> {
  const bridge: WebSocketBridge = createWebSocketBridge({ upstream: upstreamConfig });
  open.push({ close: () => bridge.close({ drainTimeoutMs: 100 }) });
  const { url } = await bridge.listen();
  const transport = createWebSocketTransport({ url });
  open.push(transport);
  return transport;
}

function lastCall() {
  const record = upstream.events.calls.at(-1);
  if (!record) throw new Error("grpc-js saw no call");
  return record;
}

describe("target hooks", () => {
  const ended: UpstreamCallInfo[] = [];
  let transport: WebSocketTransport;

  beforeAll(async () => {
    transport = await gateway({
      target: upstream.baseUrl,
      onRequest({ headers, path, upstream: to }) {
        expect(path).toBe("/grpc.testing.TestService/UnaryCall");
        expect(to).toBe(`${upstream.baseUrl}/`);
        expect(headers.some(([name]) => name === "grpc-timeout")).toBe(false);
        const cookie = headers.find(([name]) => name === "x-session")?.[1];
        const out = headers.filter(([name]) => name !== "x-session");
        if (typeof cookie === "string")
          out.push(["authorization", `Bearer token-for-${cookie}`], ["x-gateway-bin", BYTES]);
        return out;
      },
      onCallEnd: (info) => ended.push(info),
    });
  });

  it("adds and strips request metadata; other metadata, text and -bin, arrives unchanged", async () => {
    const client = createClient(TestService, transport);
    const headers = new Headers({ "x-session": "s3cr3t", "x-keep": "a value" });
    headers.append("x-keep-bin", Buffer.from(BYTES).toString("base64"));
    await client.unaryCall({ responseSize: 1 }, { headers, timeoutMs: 5000 });
    const md = lastCall().metadata;
    expect(md.get("x-session")).toEqual([]);
    expect(md.get("authorization")).toEqual(["Bearer token-for-s3cr3t"]);
    expect(md.get("x-keep")).toEqual(["a value"]);
    expect(new Uint8Array(md.get("x-keep-bin")[0] as Buffer)).toEqual(BYTES);
    expect(new Uint8Array(md.get("x-gateway-bin")[0] as Buffer)).toEqual(BYTES);
  });

  it("reports every forwarded call to onCallEnd", async () => {
    ended.length = 0;
    const client = createClient(TestService, transport);
    await client.unaryCall({ responseSize: 1 });
    await expect(
      client.unaryCall({ responseStatus: { code: Code.AlreadyExists, message: "taken" } }),
    ).rejects.toMatchObject({ code: Code.AlreadyExists });
    expect(ended.map(({ method, code, message, upstream: to }) => ({ method, code, message, to }))).toEqual([
      { method: "/grpc.testing.TestService/UnaryCall", code: 0, message: "OK", to: `${upstream.baseUrl}/` },
      {
        method: "/grpc.testing.TestService/UnaryCall",
        code: Code.AlreadyExists,
        message: "taken",
        to: `${upstream.baseUrl}/`,
      },
    ]);
    expect(ended.every((e) => e.durationMs >= 0 && e.durationMs < 5000)).toBe(true);
  });

  it("passes -bin metadata in response headers and trailers through byte for byte", async () => {
    const client = createClient(TestService, transport);
    let header: Headers | undefined;
    let trailer: Headers | undefined;
    const headers = new Headers({ "x-grpc-test-echo-initial": "initial value" });
    headers.append("x-grpc-test-echo-trailing-bin", Buffer.from(BYTES).toString("base64"));
    await client.unaryCall(
      { responseSize: 1 },
      { headers, onHeader: (h) => (header = h), onTrailer: (t) => (trailer = t) },
    );
    expect(header?.get("x-grpc-test-echo-initial")).toBe("initial value");
    expect(new Uint8Array(Buffer.from(trailer?.get("x-grpc-test-echo-trailing-bin") ?? "", "base64"))).toEqual(BYTES);
  });
});

describe("router hooks", () => {
  let transport: WebSocketTransport;

  beforeAll(async () => {
    transport = await gateway({
      route: (path) => (path.startsWith("/grpc.testing.TestService/") ? upstream.baseUrl : undefined),
      async onRequest({ headers }) {
        await new Promise((r) => setTimeout(r, 1));
        if (!headers.some(([name]) => name === "authorization"))
          throw new ConnectError("log in first", Code.Unauthenticated);
        headers.push(["x-checked", "yes"]);
      },
    });
  });

  it("runs an async hook that mutates the headers in place", async () => {
    const client = createClient(TestService, transport);
    await client.emptyCall({}, { headers: { authorization: "Bearer x" } });
    expect(lastCall().metadata.get("x-checked")).toEqual(["yes"]);
  });

  it("rejects a call with the hook's error before it reaches the upstream", async () => {
    upstream.clearEvents();
    const client = createClient(TestService, transport);
    await expect(client.emptyCall({})).rejects.toMatchObject({
      code: Code.Unauthenticated,
      rawMessage: "log in first",
    });
    expect(upstream.events.started).toEqual([]);
  });
});

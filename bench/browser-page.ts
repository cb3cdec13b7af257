// Runs in Chromium (bundled by browser.ts): the same two scenarios through each browser transport.
import { create } from "@bufbuild/protobuf";
import { createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { createWebSocketTransport } from "@grpc-ws/client";
import { SimpleRequestSchema, StreamingOutputCallRequestSchema } from "../gen/grpc/testing/messages_pb.js";
import { TestService } from "../gen/grpc/testing/test_pb.js";

export type BrowserTransport = "grpc-ws" | "connect-web" | "grpc-web";
export interface BrowserResult {
  ops: number;
  wallMs: number;
  p50Us?: number;
}

const origin = location.origin;
const transports: Record<BrowserTransport, Transport> = {
  "grpc-ws": createWebSocketTransport({ url: origin.replace(/^http/, "ws") + "/ws" }),
  "connect-web": createConnectTransport({ baseUrl: origin }),
  "grpc-web": createGrpcWebTransport({ baseUrl: origin }),
};
const unaryRequest = create(SimpleRequestSchema, { responseSize: 100, payload: { body: new Uint8Array(100) } });

async function run(
  kind: BrowserTransport,
  scenario: "unary" | "stream",
  count: number,
  capMs: number,
): Promise<BrowserResult> {
  const client = createClient(TestService, transports[kind]);
  const t0 = performance.now();
  const deadline = t0 + capMs;
  if (scenario === "unary") {
    const samples: number[] = [];
    while (samples.length < count && performance.now() < deadline) {
      const s = performance.now();
      await client.unaryCall(unaryRequest);
      samples.push(performance.now() - s);
    }
    samples.sort((a, b) => a - b);
    return { ops: samples.length, wallMs: performance.now() - t0, p50Us: (samples[samples.length >> 1] ?? NaN) * 1000 };
  }
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), capMs);
  let n = 0;
  try {
    const req = create(StreamingOutputCallRequestSchema, { responseParameters: [{ size: 100 }, { size: count }] });
    for await (const _ of client.streamingOutputCall(req, { signal: ac.signal })) n++;
  } catch (e) {
    if (!ac.signal.aborted) throw e;
  } finally {
    clearTimeout(timer);
  }
  return { ops: n, wallMs: performance.now() - t0 };
}

(globalThis as { benchRun?: typeof run }).benchRun = run;

// Keepalive on grpc-websockets sockets: those clients send no PING frames, so the bridge sends
// WebSocket pings on its `keepalive` schedule (browsers and ws answer with pongs by themselves)
// and drops a socket whose pong does not come, ending its call as a client cancel.
import { create, toBinary } from "@bufbuild/protobuf";
import { GRPC_WEBSOCKETS, encodeClientData } from "@grpc-ws/wire";
import { createTestServiceImpl, type TestServiceMethodName } from "@grpc-ws/interop";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { StreamingOutputCallRequestSchema } from "../../../../../gen/grpc/testing/messages_pb.js";
import { TestService } from "../../../../../gen/grpc/testing/test_pb.js";
import { createWebSocketBridge, type WebSocketBridge } from "../../index.js";

const STREAMING_OUTPUT = "/grpc.testing.TestService/StreamingOutputCall";

/** A server-streaming call whose one response comes after 30 s: the call stays open meanwhile. */
function slowCallMessages(): Uint8Array[] {
  const request = toBinary(
    StreamingOutputCallRequestSchema,
    create(StreamingOutputCallRequestSchema, { responseParameters: [{ size: 1, intervalUs: 30_000_000 }] }),
  );
  const framed = new Uint8Array(5 + request.length);
  new DataView(framed.buffer).setUint32(1, request.length);
  framed.set(request, 5);
  return [new TextEncoder().encode(""), encodeClientData(framed), Uint8Array.of(1)];
}

describe("grpc-websockets keepalive (WebSocket pings)", () => {
  let bridge: WebSocketBridge;
  let base = "";
  const aborted: TestServiceMethodName[] = [];

  beforeAll(async () => {
    bridge = createWebSocketBridge({
      routes: (r) => r.service(TestService, createTestServiceImpl({ onAbort: (m) => aborted.push(m) })),
      keepalive: { intervalMs: 50, timeoutMs: 1000 },
    });
    base = `ws://127.0.0.1:${(await bridge.listen()).port}`;
  });
  afterAll(() => bridge?.close({ drainTimeoutMs: 50 }));

  /** Opens a socket for the slow call; `autoPong` false plays a peer that is gone. */
  function open(autoPong: boolean): { ws: WebSocket; pings: () => number; closed: Promise<number> } {
    const ws = new WebSocket(`${base}${STREAMING_OUTPUT}`, [GRPC_WEBSOCKETS], { autoPong });
    let pings = 0;
    ws.on("ping", () => pings++);
    ws.on("open", () => {
      for (const m of slowCallMessages()) ws.send(m);
    });
    const closed = new Promise<number>((resolve) => ws.on("close", (code) => resolve(code)));
    ws.on("error", () => undefined);
    return { ws, pings: () => pings, closed };
  }

  it("a peer that answers the pings keeps its call open", async () => {
    const peer = open(true);
    const outcome = await Promise.race([
      peer.closed.then(() => "closed"),
      new Promise((r) => setTimeout(() => r("open"), 600)),
    ]);
    expect(outcome).toBe("open");
    expect(peer.pings()).toBeGreaterThanOrEqual(2);
    peer.ws.close();
    await peer.closed;
  });

  it("a peer that stops answering is dropped and its handler aborted", async () => {
    aborted.length = 0;
    const peer = open(false);
    const code = await Promise.race([peer.closed, new Promise((r) => setTimeout(() => r("still open"), 5000))]);
    // terminate(): no close frame, so the client sees an abnormal closure.
    expect(code).toBe(1006);
    expect(peer.pings()).toBeGreaterThanOrEqual(1);
    for (let i = 0; i < 100 && aborted.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(aborted).toEqual(["StreamingOutputCall"]);
  });
});

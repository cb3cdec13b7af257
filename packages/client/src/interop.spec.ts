// Every grpc interop case through createWebSocketTransport against the real bridge.
import { createWebSocketBridge, type WebSocketBridge } from "@grpc-ws/server";
import { interopCaseNames, interopCases, testServiceImpl } from "@grpc-ws/interop";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestService } from "../../../gen/grpc/testing/test_pb.js";
import { createWebSocketTransport, type WebSocketTransport } from "./index.js";

describe("grpc interop cases over grpc-ws", () => {
  let bridge: WebSocketBridge;
  let transport: WebSocketTransport;

  beforeAll(async () => {
    bridge = createWebSocketBridge({ routes: (r) => r.service(TestService, testServiceImpl) });
    const { url } = await bridge.listen({ port: 0 });
    transport = createWebSocketTransport({ url });
  });

  afterAll(async () => {
    await transport?.close();
    await bridge?.close({ drainTimeoutMs: 100 });
  });

  for (const name of interopCaseNames) {
    it(name, async () => {
      await interopCases[name](transport);
      expect(transport.state).toBe("open");
    });
  }

  it("ran every case on one connection", () => {
    expect(bridge.connections).toBe(1);
  });
});

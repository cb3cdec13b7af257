// A `routes` function written for connect-node, typed against Connect's own `ConnectRouter`,
// registers unchanged. The type assertions are checked by `tsc`; the call checks the behaviour.
import type { ConnectRouter } from "@connectrpc/connect";
import { Status } from "@grpc-ws/wire";
import { afterAll, expect, expectTypeOf, test } from "vitest";
import { TestService } from "../../../gen/grpc/testing/test_pb.js";
import { createWebSocketBridge, type WebSocketBridge, type WebSocketBridgeOptions } from "./index.js";
import { BridgeRouter } from "./router.js";
import { TestClient } from "./test-client.test-util.js";

function routes(router: ConnectRouter): void {
  router.service(TestService, { emptyCall: () => ({}) });
  router.rpc(TestService.method.unaryCall, (req) => ({ payload: { body: new Uint8Array(req.responseSize) } }));
}

const bridges: WebSocketBridge[] = [];
afterAll(() => Promise.all(bridges.map((b) => b.close({ drainTimeoutMs: 100 }))));

test("the router satisfies ConnectRouter and the routes option takes a (router: ConnectRouter) => void", async () => {
  expectTypeOf<BridgeRouter>().toExtend<ConnectRouter>();
  expectTypeOf(routes).toExtend<NonNullable<WebSocketBridgeOptions["routes"]>>();
  // Connect's router methods return the router itself; chaining must keep working.
  expectTypeOf<ReturnType<BridgeRouter["service"]>>().toExtend<ConnectRouter>();

  const bridge = createWebSocketBridge({ routes, keepalive: false });
  bridges.push(bridge);
  const { url } = await bridge.listen();
  const client = await TestClient.connect(url);
  try {
    const [empty, unary] = await Promise.all([
      client.call("/grpc.testing.TestService/EmptyCall", [new Uint8Array(0)]).done,
      client.call("/grpc.testing.TestService/UnaryCall", [new Uint8Array(0)]).done,
    ]);
    expect(empty.status?.code).toBe(Status.OK);
    expect(unary.status?.code).toBe(Status.OK);
  } finally {
    await client.close();
  }
});

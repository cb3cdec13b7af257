// The `trace` option of the transport and of the bridge: frames both ways, stream and connection states.
import { createClient } from "@connectrpc/connect";
import { createTestServiceImpl } from "@grpc-ws/interop";
import { createWebSocketBridge } from "@grpc-ws/server";
import { expect, test } from "vitest";
import { TestService } from "../../../gen/grpc/testing/test_pb.js";
import { createWebSocketTransport } from "./index.js";

test("a traced call shows the connection's states, the frames each side sent and received, and the stream's states", async () => {
  const bridgeLines: string[] = [];
  const clientLines: string[] = [];
  const bridge = createWebSocketBridge({
    routes: (r) => r.service(TestService, createTestServiceImpl()),
    trace: (l) => bridgeLines.push(l),
  });
  const { url } = await bridge.listen({ port: 0 });
  const transport = createWebSocketTransport({ url, trace: (l) => clientLines.push(l) });
  try {
    await createClient(TestService, transport).emptyCall({});
  } finally {
    await transport.close();
    await bridge.close({ drainTimeoutMs: 50 });
  }
  expect(clientLines.filter((l) => l.startsWith("channel"))).toEqual([
    "channel idle -> connecting",
    "channel connecting -> open",
    "channel open -> closed",
  ]);
  expect(clientLines).toContain("> DATA stream=1 flags=0x1 length=5");
  expect(clientLines.some((l) => l.startsWith("< TRAILERS stream=1 "))).toBe(true);
  expect(clientLines).toContain("stream 1 half-closed -> closed");
  expect(bridgeLines.some((l) => l.startsWith("< HEADERS stream=1 "))).toBe(true);
  expect(bridgeLines).toContain("stream 1 open -> remote-ended");
  expect(bridgeLines.some((l) => l.startsWith("> TRAILERS stream=1 "))).toBe(true);
});

// A bridge that does not serve the requested path answers 404 at once; the client names the URL.
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createWebSocketBridge } from "@grpc-ws/server";
import { expect, test } from "vitest";
import { TestService } from "../../../gen/grpc/testing/test_pb.js";
import { createWebSocketTransport } from "./index.js";

test("a call to a path the bridge does not serve fails with the URL and the 404, long before the connect timeout", async () => {
  const bridge = createWebSocketBridge({ routes: (r) => r.rpc(TestService.method.emptyCall, () => ({})) });
  const { url } = await bridge.listen({ path: "/grpc" });
  const wrong = `${url}/`; // a trailing slash is another path
  const transport = createWebSocketTransport({ url: wrong, connectTimeoutMs: 30_000 });
  try {
    const started = performance.now();
    const err = await createClient(TestService, transport)
      .emptyCall({})
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.Unavailable);
    expect((err as ConnectError).rawMessage).toContain(wrong);
    expect((err as ConnectError).rawMessage).toContain("404");
    // Far below the 30 s connect timeout: the answer came, the timer did not fire.
    expect(performance.now() - started).toBeLessThan(15_000);
    // The right path still works.
    const good = createWebSocketTransport({ url });
    await expect(createClient(TestService, good).emptyCall({})).resolves.toBeDefined();
    await good.close();
  } finally {
    await transport.close();
    await bridge.close({ drainTimeoutMs: 100 });
  }
});

// An upstream that is down at call time: the call fails UNAVAILABLE quickly, naming the upstream,
// and calls succeed again once the upstream is back on the same port, with no bridge restart.
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { startGrpcJsTestServer, type GrpcJsTestServer } from "@grpc-ws/interop";
import { afterAll, beforeAll, expect, it } from "vitest";
import { TestService } from "../../../../gen/grpc/testing/test_pb.js";
import { startGateway, type Gateway } from "./gateway-harness.test-util.js";
import { startCountingProxy } from "./test-proxy.js";

let upstream: GrpcJsTestServer | undefined;
let port: number;
let gateway: Gateway;

beforeAll(async () => {
  // Take a free port from grpc-js itself, then free it: the upstream starts out down.
  const probe = await startGrpcJsTestServer();
  port = probe.port;
  await probe.close();
  gateway = await startGateway({ upstream: { target: `http://127.0.0.1:${port}`, connectTimeoutMs: 2000 } });
});

afterAll(async () => {
  await gateway?.close();
  await upstream?.close();
});

async function expectUnavailable(): Promise<void> {
  const client = createClient(TestService, gateway.transport);
  const started = performance.now();
  const error = await client.unaryCall({ responseSize: 1 }).then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  expect(error?.code).toBe(Code.Unavailable);
  expect(error?.rawMessage).toContain(`upstream http://127.0.0.1:${port}/`);
  // Generous bound: a refused connection on loopback fails at once, not after a timeout.
  expect(performance.now() - started).toBeLessThan(1500);
}

it("fails UNAVAILABLE while the upstream is down and recovers when it is back", async () => {
  await expectUnavailable();
  await expectUnavailable();

  upstream = await startGrpcJsTestServer({ port });
  const client = createClient(TestService, gateway.transport);
  const res = await client.unaryCall({ responseSize: 4 });
  expect(res.payload?.body.length).toBe(4);

  // Down again while the bridge holds an established session, then back again.
  await upstream.close();
  upstream = undefined;
  await expectUnavailable();
  upstream = await startGrpcJsTestServer({ port });
  expect((await client.unaryCall({ responseSize: 2 })).payload?.body.length).toBe(2);
});

it("a keepalive ping that goes unanswered ends in-flight calls UNAVAILABLE; the next call reconnects", async () => {
  const server = await startGrpcJsTestServer();
  const proxy = await startCountingProxy(server.port);
  const gw = await startGateway({ upstream: { target: proxy.url, keepalive: { intervalMs: 100, timeoutMs: 200 } } });
  try {
    const client = createClient(TestService, gw.transport);
    expect((await client.unaryCall({ responseSize: 1 })).payload?.body.length).toBe(1);
    // A server stream that sleeps 5 s, then the upstream leg goes silent: only the ping can notice.
    const call = client.streamingOutputCall({ responseParameters: [{ size: 1, intervalUs: 5_000_000 }] });
    const done = (async () => {
      for await (const _ of call);
    })().then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    for (let i = 0; i < 100 && !server.events.started.includes("StreamingOutputCall"); i++)
      await new Promise((r) => setTimeout(r, 10));
    proxy.stallUpstream(true);
    const error = await done;
    expect(error?.code).toBe(Code.Unavailable);
    expect(error?.rawMessage).toContain("keepalive ping not acknowledged within 200 ms");
    proxy.stallUpstream(false);
    expect((await client.unaryCall({ responseSize: 3 })).payload?.body.length).toBe(3);
  } finally {
    await gw.close();
    await proxy.close();
    await server.close();
  }
});

// The gateway under load and against upstreams that go away or hang: real grpc-js servers behind it.
import { spawn, type ChildProcess } from "node:child_process";
import http2 from "node:http2";
import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { createWebSocketTransport, type WebSocketTransport } from "@grpc-ws/client";
import { startGrpcJsTestServer } from "@grpc-ws/interop";
import { Status } from "@grpc-ws/wire";
import { afterEach, expect, test } from "vitest";
import { TestService } from "../../../../gen/grpc/testing/test_pb.js";
import { createWebSocketBridge, type WebSocketBridge } from "../index.js";
import { TestClient } from "../test-client.test-util.js";
import { startCountingProxy } from "./test-proxy.js";

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function bridgeFor(
  options: Parameters<typeof createWebSocketBridge>[0],
): Promise<{ bridge: WebSocketBridge; url: string }> {
  const bridge = createWebSocketBridge(options);
  const { url } = await bridge.listen();
  cleanups.push(() => bridge.close({ drainTimeoutMs: 100 }));
  return { bridge, url };
}

const RST_STREAM = 0x3;

test("1,000 concurrent large unary calls through the gateway to grpc-js: zero failures, and no RST_STREAM for calls that ended cleanly", {
  timeout: 120_000,
}, async () => {
  const upstream = await startGrpcJsTestServer();
  cleanups.push(() => upstream.close());
  const proxy = await startCountingProxy(upstream.port);
  cleanups.push(() => proxy.close());
  const { url } = await bridgeFor({ upstream: proxy.url });
  // Ten connections of 100 streams: 1,000 calls in flight at the upstream at once.
  const transports: WebSocketTransport[] = Array.from({ length: 10 }, () => createWebSocketTransport({ url }));
  cleanups.push(() => Promise.all(transports.map((t) => t.close())));
  const CALLS = 1_000;
  const SIZE = 64 * 1024;
  const results = await Promise.allSettled(
    Array.from({ length: CALLS }, (_, i) =>
      createClient(TestService, transports[i % transports.length]!).unaryCall({
        responseSize: SIZE,
        payload: { body: new Uint8Array(SIZE).fill(i & 0xff) },
      }),
    ),
  );
  const failures = results
    .filter((r) => r.status === "rejected")
    .map((r) => String((r as PromiseRejectedResult).reason));
  expect(failures.slice(0, 5)).toEqual([]);
  for (const r of results)
    expect((r as PromiseFulfilledResult<{ payload?: { body: Uint8Array } }>).value.payload?.body.length).toBe(SIZE);
  // Each ended call closed with END_STREAM both ways: a reset per call is what made Node's
  // server (under grpc-js) send GOAWAY about every 1,100 calls.
  expect(proxy.upFrames.get(RST_STREAM) ?? 0).toBe(0);
  expect(proxy.accepted).toBe(1);
});

test("a GOAWAY from the upstream: the call above its last stream id is sent again on a new connection; the call below it finishes", async () => {
  // A raw HTTP/2 gRPC upstream that echoes, and sends GOAWAY(NO_ERROR, first stream) when the second stream arrives.
  let streamsSeen = 0;
  const server = http2.createServer();
  server.on("stream", (stream, headers) => {
    streamsSeen++;
    stream.on("error", () => undefined); // the refused stream closes with REFUSED_STREAM
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => {
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      // The first call answers only after the second one was refused, so both overlap.
      setTimeout(() => stream.end(Buffer.concat(chunks)), headers["x-slow"] ? 300 : 0);
    });
    if (streamsSeen === 2) stream.session?.goaway(http2.constants.NGHTTP2_NO_ERROR, 1);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as { port: number }).port;
  const { url } = await bridgeFor({ upstream: `http://127.0.0.1:${port}` });
  const client = await TestClient.connect(url);
  cleanups.push(() => client.close());
  const first = client.call("/grpc.testing.TestService/UnaryCall", [new Uint8Array([1, 2, 3])], {
    metadata: [["x-slow", "1"]],
  });
  await new Promise((r) => setTimeout(r, 50));
  const second = client.call("/grpc.testing.TestService/UnaryCall", [new Uint8Array([4, 5])]);
  const [a, b] = await Promise.all([first.done, second.done]);
  expect(a.status?.code).toBe(Status.OK);
  expect(a.messages).toEqual([new Uint8Array([1, 2, 3])]);
  expect(b.status?.code).toBe(Status.OK);
  expect(b.messages).toEqual([new Uint8Array([4, 5])]);
  // The refused stream arrived once on the old connection and once on the new one.
  expect(streamsSeen).toBe(3);
});

/** Starts testdata/grpc-js-echo.mjs in a child process; resolves with its port. */
async function startEchoProcess(): Promise<{ child: ChildProcess; port: number }> {
  const script = fileURLToPath(new URL("./testdata/grpc-js-echo.mjs", import.meta.url));
  const child = spawn(process.execPath, [script], { stdio: ["ignore", "pipe", "inherit"] });
  cleanups.push(() => {
    // Continue it first: a stopped process does not act on SIGKILL until continued on some systems.
    if (child.exitCode === null && child.pid !== undefined) {
      process.kill(child.pid, "SIGCONT");
      process.kill(child.pid, "SIGKILL");
    }
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const line = out.split("\n")[0];
      if (out.includes("\n")) resolve(Number(line));
    });
    child.once("exit", (code) => reject(new Error(`grpc-js-echo.mjs exited with ${code} before printing its port`)));
    setTimeout(() => reject(new Error("grpc-js-echo.mjs printed no port within 20 s")), 20_000).unref();
  });
  return { child, port };
}

test("a hung upstream (SIGSTOP) fails the call in flight UNAVAILABLE through keepalive, well before the call's deadline", {
  timeout: 60_000,
}, async () => {
  const { child, port } = await startEchoProcess();
  const keepalive = { intervalMs: 200, timeoutMs: 500 };
  const { url } = await bridgeFor({ upstream: { target: `http://127.0.0.1:${port}`, keepalive } });
  const client = await TestClient.connect(url);
  cleanups.push(() => client.close());
  const ok = await client.call("/grpc.testing.TestService/UnaryCall", [new Uint8Array([7])]).done;
  expect(ok.status?.code).toBe(Status.OK);
  expect(ok.messages).toEqual([new Uint8Array([7])]);
  process.kill(child.pid!, "SIGSTOP");
  // Without keepalive this call would end DEADLINE_EXCEEDED after 30 s: the status tells which fired.
  const hung = await client.call("/grpc.testing.TestService/UnaryCall", [new Uint8Array([8])], { timeoutMs: 30_000 })
    .done;
  expect(hung.status?.code).toBe(Status.UNAVAILABLE);
  expect(hung.status?.message).toContain(`keepalive ping not acknowledged within ${keepalive.timeoutMs} ms`);
  process.kill(child.pid!, "SIGCONT");
  // Once it runs again, the next call reconnects.
  const again = await client.call("/grpc.testing.TestService/UnaryCall", [new Uint8Array([9])], { timeoutMs: 10_000 })
    .done;
  expect(again.status?.code).toBe(Status.OK);
});

// End-to-end backpressure through the gateway, observed at the bytes the upstream leg relays
// (a counting TCP proxy between bridge and grpc-js): a stalled reader on either side stops the
// other side's sender within a bounded number of bytes, and the call completes once it moves.
import { createClient } from "@connectrpc/connect";
import { expect, it } from "vitest";
import { TestService } from "../../../../gen/grpc/testing/test_pb.js";
import { useUpstreamGateway } from "./gateway-harness.test-util.js";
import { startCountingProxy, type CountingProxy } from "./test-proxy.js";

const MiB = 1024 * 1024;
let proxy: CountingProxy;
const gw = useUpstreamGateway(async (upstream, keep) => {
  proxy = keep(await startCountingProxy(upstream.port));
  return { upstream: proxy.url };
});

/** Polls `read` until two readings 100 ms apart agree (at most ~3 s); returns the last one. */
async function settled(read: () => number): Promise<number> {
  let last = read();
  for (let i = 0; i < 30; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const now = read();
    if (now === last && i > 1) return now;
    last = now;
  }
  return last;
}

it("a stalled client reader stops the upstream's server stream within a bounded number of bytes", async () => {
  const client = createClient(TestService, gw.transport);
  const count = 64;
  const size = 256 * 1024; // 16 MiB in all
  const before = proxy.downBytes;
  const it = client
    .streamingOutputCall({ responseParameters: Array.from({ length: count }, () => ({ size })) })
    [Symbol.asyncIterator]();
  const first = await it.next();
  expect(first.value?.payload?.body.length).toBe(size);
  // The client takes nothing more for a while: what crossed the upstream leg must level off.
  const relayed = (await settled(() => proxy.downBytes)) - before;
  // Client window + bridge buffers (one queue above the high-water mark, one partial message) + HTTP/2 window.
  expect(relayed).toBeLessThan(1.5 * MiB);
  expect(relayed).toBeLessThan(count * size);
  let received = 1;
  for (let r = await it.next(); !r.done; r = await it.next()) received++;
  expect(received).toBe(count);
});

it("a stalled upstream keeps the client's uploads within the flow-control windows", async () => {
  const client = createClient(TestService, gw.transport);
  const size = 32 * 1024;
  const total = 256; // 8 MiB offered
  let pulled = 0;
  async function* requests() {
    for (let i = 0; i < total; i++) {
      pulled++;
      yield { payload: { body: new Uint8Array(size) } };
    }
  }
  proxy.stallUpstream(true);
  const call = client.streamingInputCall(requests());
  const pulledWhileStalled = await settled(() => pulled);
  // Client stream window and write queue + bridge's HTTP/2 stream buffer + the upstream's HTTP/2 window.
  expect(pulledWhileStalled * size).toBeLessThan(1 * MiB);
  expect(pulledWhileStalled).toBeGreaterThan(0);
  proxy.stallUpstream(false);
  const res = await call;
  expect(res.aggregatedPayloadSize).toBe(total * size);
});

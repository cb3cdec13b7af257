// Every interop case through the gateway to the real grpc-js TestService, plus cancellation and
// deadlines as the upstream sees them, and in-process and upstream services on one WebSocket.
import { create } from "@bufbuild/protobuf";
import { Code, createClient } from "@connectrpc/connect";
import { interopCaseNames, interopCases } from "@grpc-ws/interop";
import { describe, expect, it } from "vitest";
import { BenchService, PayloadSchema } from "../../../../gen/bench/v1/bench_pb.js";
import { TestService, UnimplementedService } from "../../../../gen/grpc/testing/test_pb.js";
import type { CallEndInfo } from "../index.js";
import { useUpstreamGateway } from "./gateway-harness.test-util.js";

async function drain(stream: AsyncIterable<unknown>): Promise<number> {
  let n = 0;
  for await (const _ of stream) n++;
  return n;
}

describe("gateway to grpc-js: interop cases", () => {
  const gw = useUpstreamGateway();

  for (const name of interopCaseNames) {
    it(name, async () => {
      await interopCases[name](gw.transport);
    });
  }

  it("a client cancel shows up in grpc-js as a cancelled call within 1 s", async () => {
    gw.upstream.clearEvents();
    await interopCases.cancel_after_first_response(gw.transport);
    const record = await gw.upstream.waitForCancel("FullDuplexCall", 1000);
    expect(record.cancelledAt).toBeDefined();
  });

  it("a cancel before the first message reaches grpc-js too", async () => {
    gw.upstream.clearEvents();
    const client = createClient(TestService, gw.transport);
    const ac = new AbortController();
    async function* requests() {
      yield { payload: { body: new Uint8Array(8) } };
      // Never half-closes: the call is in flight upstream when the client gives up.
      await new Promise((resolve) => setTimeout(resolve, 5000));
    }
    const call = client.streamingInputCall(requests(), { signal: ac.signal });
    // Wait until grpc-js has the call, then cancel it.
    for (let i = 0; i < 100 && !gw.upstream.events.started.includes("StreamingInputCall"); i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(gw.upstream.events.started).toContain("StreamingInputCall");
    ac.abort();
    await expect(call).rejects.toMatchObject({ code: Code.Canceled });
    await gw.upstream.waitForCancel("StreamingInputCall", 1000);
  });

  it("sends grpc-timeout as what is left of the client's deadline", async () => {
    gw.upstream.clearEvents();
    const client = createClient(TestService, gw.transport);
    await client.unaryCall({ responseSize: 1 }, { timeoutMs: 5000 });
    const record = gw.upstream.events.calls.at(-1)!;
    expect(record.method).toBe("UnaryCall");
    const budget = record.deadline - record.startedAt;
    expect(budget).toBeLessThanOrEqual(5000);
    expect(budget).toBeGreaterThan(3000);
  });

  it("a deadline ends the call DEADLINE_EXCEEDED and stops the grpc-js handler within 1 s", async () => {
    gw.upstream.clearEvents();
    const client = createClient(TestService, gw.transport);
    const stream = client.streamingOutputCall(
      { responseParameters: [{ size: 1, intervalUs: 5_000_000 }] },
      { timeoutMs: 200 },
    );
    await expect(drain(stream)).rejects.toMatchObject({ code: Code.DeadlineExceeded });
    const record = await gw.upstream.waitForAbort("StreamingOutputCall", 1000);
    expect(record.deadline).toBeLessThan(Infinity);
  });
});

describe("gateway: in-process and upstream services on one WebSocket", () => {
  const ended: CallEndInfo[] = [];
  const gw = useUpstreamGateway((upstream) => ({
    routes(router) {
      router.service(BenchService, {
        unary: (req) => create(PayloadSchema, { body: Uint8Array.from(req.body).reverse() }),
      });
    },
    upstream: { target: upstream.baseUrl, services: ["grpc.testing.TestService"] },
    onCallEnd: (info) => ended.push(info),
  }));

  it("serves both, concurrently, over one connection", async () => {
    const bench = createClient(BenchService, gw.transport);
    const test = createClient(TestService, gw.transport);
    const [local, remote, stream] = await Promise.all([
      bench.unary({ body: new Uint8Array([1, 2, 3]) }),
      test.unaryCall({ responseSize: 7 }),
      (async () => {
        const out: number[] = [];
        for await (const res of test.streamingOutputCall({ responseParameters: [{ size: 3 }, { size: 5 }] }))
          out.push(res.payload!.body.length);
        return out;
      })(),
    ]);
    expect(local.body).toEqual(new Uint8Array([3, 2, 1]));
    expect(remote.payload?.body.length).toBe(7);
    expect(stream).toEqual([3, 5]);
    expect(gw.bridge.connections).toBe(1);
    expect(ended.filter((e) => e.method === "/bench.v1.BenchService/Unary").map((e) => e.forwarded)).toEqual([false]);
    expect(ended.filter((e) => e.method.startsWith("/grpc.testing.TestService/")).every((e) => e.forwarded)).toBe(true);
  });

  it("answers UNIMPLEMENTED itself for services neither side serves", async () => {
    gw.upstream.clearEvents();
    const client = createClient(UnimplementedService, gw.transport);
    await expect(client.unimplementedCall({})).rejects.toMatchObject({ code: Code.Unimplemented });
    // An in-process service's missing method is not forwarded either: the upstream takes only TestService.
    await expect(
      drain(createClient(BenchService, gw.transport).serverStream({ count: 1, size: 1 })),
    ).rejects.toMatchObject({ code: Code.Unimplemented });
    expect(gw.upstream.events.started).toEqual([]);
    expect(ended.at(-1)?.forwarded).toBe(false);
  });
});

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createWebSocketTransport, type WebSocketTransport } from "@grpc-ws/client";
import { expect, test } from "vitest";
import {
  StreamingInputCallRequestSchema,
  StreamingOutputCallRequestSchema,
} from "../../../../gen/grpc/testing/messages_pb.js";
import { TestService } from "../../../../gen/grpc/testing/test_pb.js";
import { startNginx } from "./nginx.test-util.js";
import { bundleBridgeProcess, startBridgeProcess, type BridgeProcess } from "./processes.test-util.js";

const DRAIN_MS = 2_000;
const CLIENTS = 4;
const STEADY_MS = 1_000;
type Kind = "unary" | "serverStream" | "clientStream" | "bidi";
const KINDS: Kind[] = ["unary", "serverStream", "clientStream", "bidi"];

async function* requests(n: number) {
  for (let i = 0; i < n; i++) yield create(StreamingInputCallRequestSchema, { payload: { body: new Uint8Array(8) } });
}
async function* duplex(n: number) {
  for (let i = 0; i < n; i++) yield create(StreamingOutputCallRequestSchema, { responseParameters: [{ size: 4 }] });
}

async function callOnce(client: ReturnType<typeof createClient<typeof TestService>>, kind: Kind): Promise<void> {
  switch (kind) {
    case "unary":
      await client.unaryCall({ responseSize: 16 });
      return;
    case "serverStream": {
      let n = 0;
      // Five messages over ~100 ms: far shorter than the drain timeout.
      for await (const _ of client.streamingOutputCall({
        responseParameters: Array.from({ length: 5 }, () => ({ size: 8, intervalUs: 20_000 })),
      }))
        n++;
      if (n !== 5) throw new Error(`server stream ended after ${n} messages`);
      return;
    }
    case "clientStream": {
      const r = await client.streamingInputCall(requests(5));
      if (r.aggregatedPayloadSize !== 40) throw new Error(`client stream aggregated ${r.aggregatedPayloadSize}`);
      return;
    }
    case "bidi": {
      let n = 0;
      for await (const _ of client.fullDuplexCall(duplex(5))) n++;
      if (n !== 5) throw new Error(`bidi ended after ${n} messages`);
    }
  }
}

test("two bridge processes behind nginx, each drained and restarted in turn under a steady mix of calls: zero failed calls", async () => {
  const bridges: BridgeProcess[] = [];
  const transports: WebSocketTransport[] = [];
  const nginxStop: Array<() => Promise<void>> = [];
  const bundle = await bundleBridgeProcess();
  try {
    let a = await startBridgeProcess(bundle.file, 0, DRAIN_MS);
    bridges.push(a);
    let b = await startBridgeProcess(bundle.file, 0, DRAIN_MS);
    bridges.push(b);
    const nginx = await startNginx({ upstreams: [a.port, b.port] });
    nginxStop.push(() => nginx.stop());

    const ok: Record<Kind, number> = { unary: 0, serverStream: 0, clientStream: 0, bidi: 0 };
    const failures: string[] = [];
    let running = true;
    const clients = Array.from({ length: CLIENTS }, () => {
      const transport = createWebSocketTransport({ url: nginx.url });
      transports.push(transport);
      return createClient(TestService, transport);
    });
    const workers = clients.map(async (client, w) => {
      // Bounded in count as well as by the deploy's end.
      for (let i = w; running && i < 50_000; i++) {
        const kind = KINDS[i % KINDS.length]!;
        try {
          await callOnce(client, kind);
          ok[kind]++;
        } catch (error) {
          failures.push(`${kind}: ${ConnectError.from(error).message}`);
        }
      }
    });
    // Long streams (subscriptions), one per client: documented to end with UNAVAILABLE when the
    // bridge they are on has drained for drainTimeoutMs; the application subscribes again.
    const long = clients.map(async (client) => {
      let messages = 0;
      try {
        for await (const _ of client.streamingOutputCall({
          responseParameters: Array.from({ length: 200 }, () => ({ size: 1, intervalUs: 100_000 })),
        }))
          messages++;
        return { outcome: "completed", messages };
      } catch (error) {
        const e = ConnectError.from(error);
        return { outcome: `${Code[e.code]}: ${e.rawMessage}`, messages };
      }
    });

    const t0 = Date.now();
    const phase = (what: string) =>
      console.log(`${Date.now() - t0} ms: ${what} ok=${JSON.stringify(ok)} failures=${failures.length}`);
    await new Promise((r) => setTimeout(r, STEADY_MS));
    phase("draining a");
    const deploy: Array<{ bridge: string; served: Record<string, number> }> = [];
    deploy.push({ bridge: "a", served: await a.drain() });
    phase("a drained");
    a = await startBridgeProcess(bundle.file, a.port, DRAIN_MS);
    bridges.push(a);
    phase("a restarted");
    await new Promise((r) => setTimeout(r, STEADY_MS));
    deploy.push({ bridge: "b", served: await b.drain() });
    phase("b drained");
    b = await startBridgeProcess(bundle.file, b.port, DRAIN_MS);
    bridges.push(b);
    phase("b restarted");
    await new Promise((r) => setTimeout(r, STEADY_MS));
    running = false;
    await Promise.all(workers);
    phase("workers done");
    const longOutcomes = await Promise.all(long);

    const total = Object.values(ok).reduce((x, y) => x + y, 0);
    console.log(
      JSON.stringify({
        rollingDeploy: { ok, total, failed: failures.length, long: longOutcomes, servedByDrainedBridges: deploy },
      }),
    );
    expect(failures).toEqual([]);
    for (const kind of KINDS) expect(ok[kind]).toBeGreaterThan(0);
    // Every bridge served calls before it was drained: both took traffic.
    for (const d of deploy) expect(d.served["0"] ?? 0).toBeGreaterThan(0);
    for (const l of longOutcomes) expect(l.outcome).toMatch(/^(completed|Unavailable: server shutting down)$/);
  } finally {
    await Promise.all(transports.map((t) => t.close()));
    for (const bridge of bridges) bridge.kill();
    for (const stop of nginxStop) await stop();
    await bundle.remove();
  }
}, 60_000);

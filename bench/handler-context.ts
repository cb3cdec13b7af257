// Cost of a handler context per call, created and ended the way a bridge call does it: Connect's
// createHandlerContext + abort() against CallHandlerContext + the call's own signal aborted with
// the shared CALL_COMPLETE reason. Both handlers read the request headers and the signal, so both
// make an AbortController and a Headers (the bridge makes neither for a handler that does not look). Run: npx tsx --tsconfig ../tsconfig.json handler-context.ts
import { createContextValues, createHandlerContext } from "@connectrpc/connect";
import { CALL_COMPLETE, CallHandlerContext } from "../packages/server/src/handler-context.js";
import { TestService } from "../gen/grpc/testing/test_pb.js";
import { measureAll, type Case } from "./measure.js";

const base = {
  service: TestService,
  method: TestService.method.unaryCall,
  protocolName: "grpc-ws",
  url: "ws://127.0.0.1/grpc.testing.TestService/UnaryCall",
};
const PER_BATCH = 1000;
let sink = 0;
const cases: Case[] = [
  {
    name: "Connect createHandlerContext + abort()",
    opsPerBatch: PER_BATCH,
    bytesPerBatch: 0,
    batch: () => {
      for (let i = 0; i < PER_BATCH; i++) {
        const call = new AbortController();
        const ctx = createHandlerContext({ ...base, requestMethod: "POST", requestSignal: call.signal });
        ctx.requestHeader.set("x", "y");
        ctx.abort();
        sink += ctx.signal.aborted ? 1 : 0;
      }
      return sink;
    },
  },
  {
    name: "CallHandlerContext + call signal",
    opsPerBatch: PER_BATCH,
    bytesPerBatch: 0,
    batch: () => {
      for (let i = 0; i < PER_BATCH; i++) {
        const call = new AbortController();
        const source = {
          signal: call.signal,
          remainingMs: () => undefined,
          fillRequestHeader: (into: Headers) => into.set("x", "y"),
          contextValues: () => createContextValues(),
        };
        const ctx = new CallHandlerContext({ ...base, source });
        sink += ctx.requestHeader.has("x") ? 1 : 0;
        call.abort(CALL_COMPLETE);
        sink += ctx.signal.aborted ? 1 : 0;
      }
      return sink;
    },
  },
];
const r = measureAll(cases, { warmupMs: 300, sampleMs: 300, samples: 7, maxBatches: 100_000 });
const [a, b] = cases.map((c) => r.get(c)!.opsPerSec);
for (const c of cases)
  console.log(`${c.name.padEnd(42)} ${(1e6 / r.get(c)!.opsPerSec).toFixed(2).padStart(7)} us per call`);
console.log(`saved per call: ${(1e6 / a! - 1e6 / b!).toFixed(2)} us (${(b! / a!).toFixed(1)}x faster)`);

// The benchmark's service: grpc.testing.TestService with lean handlers, the same work for every
// server (no observers, no sleeps), so the comparison measures the transports and not the test
// harness. Conventions (documented in README.md):
// - UnaryCall: answers a payload of `responseSize` zero bytes.
// - StreamingOutputCall: `responseParameters[0].size` is the message size and
//   `responseParameters[1].size` the message count (one short request for any count).
// - StreamingInputCall: reads every message, answers the summed payload size.
// - FullDuplexCall: one answer of `responseParameters[0].size` bytes per request; with no
//   request it stays open and idle (the idle-stream scenario).
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type {
  ServerDuplexStream,
  ServerReadableStream,
  ServerUnaryCall,
  ServerWritableStream,
  UntypedServiceImplementation,
  sendUnaryData,
} from "@grpc/grpc-js";
import {
  SimpleResponseSchema,
  StreamingInputCallResponseSchema,
  StreamingOutputCallResponseSchema,
  type SimpleRequest,
  type SimpleResponse,
  type StreamingInputCallRequest,
  type StreamingInputCallResponse,
  type StreamingOutputCallRequest,
  type StreamingOutputCallResponse,
} from "../gen/grpc/testing/messages_pb.js";
import type { TestService } from "../gen/grpc/testing/test_pb.js";

/** Largest message the service sends (a bound on what a request can make it allocate). */
export const MAX_SIZE = 1024 * 1024;
/** Largest count of one server stream. */
export const MAX_COUNT = 10_000_000;

const bodies = new Map<number, Uint8Array>();
/** Zero bytes of `size`, shared between calls (every server sends the same cached payload). */
export function body(size: number): Uint8Array {
  const n = Math.max(0, Math.min(MAX_SIZE, Math.floor(size)));
  let b = bodies.get(n);
  if (!b) bodies.set(n, (b = new Uint8Array(n)));
  return b;
}

/** Size and count of a StreamingOutputCall, per the conventions above. */
export function streamShape(req: StreamingOutputCallRequest): { size: number; count: number } {
  const size = req.responseParameters[0]?.size ?? 0;
  const count = Math.max(0, Math.min(MAX_COUNT, req.responseParameters[1]?.size ?? 1));
  return { size, count };
}

const unaryResponse = (req: SimpleRequest): SimpleResponse =>
  create(SimpleResponseSchema, { payload: { body: body(req.responseSize) } });
const outputMessage = (size: number): StreamingOutputCallResponse =>
  create(StreamingOutputCallResponseSchema, { payload: { body: body(size) } });

/** Open FullDuplexCall handlers in this process: the idle-stream scenario waits for all to be open. */
export const active = { duplex: 0 };

/** Connect handlers: served by connect-node and by the grpc-ws bridge. */
export const connectImpl: Partial<ServiceImpl<typeof TestService>> = {
  unaryCall: (req) => unaryResponse(req),
  async *streamingOutputCall(req) {
    const { size, count } = streamShape(req);
    const m = outputMessage(size);
    for (let i = 0; i < count; i++) yield m;
  },
  async streamingInputCall(requests) {
    let total = 0;
    for await (const r of requests) total += r.payload?.body.length ?? 0;
    return { aggregatedPayloadSize: total };
  },
  async *fullDuplexCall(requests) {
    active.duplex++;
    try {
      for await (const r of requests) yield outputMessage(r.responseParameters[0]?.size ?? 0);
    } finally {
      active.duplex--;
    }
  },
};

/** The same handlers for a grpc-js server, with its write backpressure. */
export const grpcJsImpl: UntypedServiceImplementation = {
  UnaryCall(call: ServerUnaryCall<SimpleRequest, SimpleResponse>, cb: sendUnaryData<SimpleResponse>) {
    cb(null, unaryResponse(call.request));
  },
  StreamingOutputCall(call: ServerWritableStream<StreamingOutputCallRequest, StreamingOutputCallResponse>) {
    const { size, count } = streamShape(call.request);
    const m = outputMessage(size);
    let i = 0;
    const pump = (): void => {
      while (i < count) {
        if (call.cancelled) return;
        i++;
        if (!call.write(m)) {
          call.once("drain", pump);
          return;
        }
      }
      call.end();
    };
    pump();
  },
  StreamingInputCall(
    call: ServerReadableStream<StreamingInputCallRequest, StreamingInputCallResponse>,
    cb: sendUnaryData<StreamingInputCallResponse>,
  ) {
    let total = 0;
    call.on("data", (r: StreamingInputCallRequest) => (total += r.payload?.body.length ?? 0));
    call.on("end", () => cb(null, create(StreamingInputCallResponseSchema, { aggregatedPayloadSize: total })));
    call.on("error", () => undefined);
  },
  FullDuplexCall(call: ServerDuplexStream<StreamingOutputCallRequest, StreamingOutputCallResponse>) {
    active.duplex++;
    let open = true;
    const done = (): void => {
      if (open) active.duplex--;
      open = false;
    };
    call.on("close", done);
    call.on("cancelled", done);
    call.on("data", (r: StreamingOutputCallRequest) => call.write(outputMessage(r.responseParameters[0]?.size ?? 0)));
    call.on("end", () => {
      done();
      call.end();
    });
    call.on("error", () => undefined);
  },
};

import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Status, type Session, type Stream } from "@grpc-ws/wire";
import { expect, test } from "vitest";
import {
  StreamingInputCallRequestSchema,
  StreamingInputCallResponseSchema,
  StreamingOutputCallRequestSchema,
} from "../../../gen/grpc/testing/messages_pb.js";
import { TestService } from "../../../gen/grpc/testing/test_pb.js";
import { useBridge } from "./bridge-fixture.test-util.js";
import { until } from "./test-client.test-util.js";

const TS = "/grpc.testing.TestService";
const MESSAGE = 16 * 1024;
const COUNT = 200;
const HIGH_WATER = 64 * 1024;
const SERVER_STREAM_WINDOW = 64 * 1024;

let produced = 0;
let releaseReader: (() => void) | undefined;
let consumed = 0;

/** The server side of stream `id` on the bridge's only connection. */
function serverStream(id: number): Stream | undefined {
  const sessions = (fx.bridge as unknown as { sessions: Session[] }).sessions;
  return sessions[0]?.stream(id);
}

const fx = useBridge({
  routes(router) {
    router.rpc(TestService.method.streamingOutputCall, async function* (_req, ctx) {
      for (let i = 0; i < COUNT && !ctx.signal.aborted; i++) {
        produced++;
        yield { payload: { body: new Uint8Array(MESSAGE) } };
      }
    });
    router.rpc(TestService.method.streamingInputCall, async (requests) => {
      let size = 0;
      for await (const req of requests) {
        consumed++;
        size += req.payload?.body.length ?? 0;
        // Read one message, then stall until the test lets go.
        if (consumed === 1) await new Promise<void>((resolve) => (releaseReader = resolve));
      }
      return { aggregatedPayloadSize: size };
    });
    router.rpc(TestService.method.emptyCall, () => ({}));
  },
  writeHighWaterMark: HIGH_WATER,
  settings: { initialStreamWindow: SERVER_STREAM_WINDOW },
  keepalive: false,
});

test("a stalled reader on a server stream pauses its handler within a bound while another call completes", async () => {
  const client = await fx.connect({ initialStreamWindow: 64 * 1024 });
  const request = toBinary(StreamingOutputCallRequestSchema, create(StreamingOutputCallRequestSchema, {}));
  const stalled = client.call(`${TS}/StreamingOutputCall`, [request], { read: false });

  // The client returns no credit: the bridge can send one window, then queues up to the high-water mark.
  await until(() => serverStream(stalled.stream.id)?.writable === false, "the stalled stream to stop being writable");
  const other = client.call(`${TS}/EmptyCall`, [new Uint8Array(0)]);
  expect((await other.done).status?.code).toBe(Status.OK);

  const stream = serverStream(stalled.stream.id)!;
  const bound = HIGH_WATER + MESSAGE + 5;
  expect(stream.pendingBytes).toBeLessThanOrEqual(bound);
  // One window on the wire, the queue, and the message the paused generator is holding.
  const window = 64 * 1024;
  expect(produced).toBeLessThanOrEqual(Math.ceil((window + bound) / MESSAGE) + 1);
  expect(produced).toBeLessThan(COUNT);

  stalled.resume();
  const outcome = await stalled.done;
  expect(outcome.status?.code).toBe(Status.OK);
  expect(outcome.messages).toHaveLength(COUNT);
  expect(produced).toBe(COUNT);
});

test("a slow client-streaming handler holds the client back: the bridge buffers a bounded amount", async () => {
  const client = await fx.connect();
  const request = toBinary(
    StreamingInputCallRequestSchema,
    create(StreamingInputCallRequestSchema, { payload: { body: new Uint8Array(MESSAGE) } }),
  );
  const call = client.call(
    `${TS}/StreamingInputCall`,
    Array.from({ length: COUNT }, () => request),
  );

  await until(() => releaseReader !== undefined, "the handler to take its first message");
  // Let the client send what the window allows.
  await until(
    () => (serverStream(call.stream.id)?.queuedBytes ?? 0) >= SERVER_STREAM_WINDOW - MESSAGE,
    "the stream window to fill",
  );
  const server = serverStream(call.stream.id)!;
  // The wire returns credit while at most half a window is queued (so a message larger than half
  // the window can complete): what waits unread stays under two windows.
  expect(server.queuedBytes).toBeLessThanOrEqual(2 * SERVER_STREAM_WINDOW);
  // The rest waits on the client side.
  expect(call.stream.pendingBytes).toBeGreaterThan((COUNT / 2) * MESSAGE);
  expect(consumed).toBe(1);

  releaseReader!();
  const outcome = await call.done;
  expect(outcome.status?.code).toBe(Status.OK);
  expect(fromBinary(StreamingInputCallResponseSchema, outcome.messages[0]!).aggregatedPayloadSize).toBe(
    COUNT * MESSAGE,
  );
  expect(consumed).toBe(COUNT);
});

// State-machine fuzzing of the bridge over real sockets: a hostile client sends well-formed frames
// (and a few corrupted ones) in any order to a real bridge, with in-process handlers and in front
// of a real grpc-js upstream. Whatever it sends, the bridge must not fail on its side (no
// INTERNAL_ERROR, no close 1011, no unhandled rejection or exception), must answer within the
// protocol, must free every connection and handler, and must keep serving a well-behaved client.
// FUZZ_RUNS=n runs each property n times (and without the time limit) for a deeper search.
import { createClient } from "@connectrpc/connect";
import { createWebSocketTransport } from "@grpc-ws/client";
import { createTestServiceImpl, startGrpcJsTestServer, type GrpcJsTestServer } from "@grpc-ws/interop";
import {
  FrameType,
  SettingId,
  Status,
  parseTrailers,
  readMetadata,
  type CallStatus,
  type Settings,
} from "@grpc-ws/wire";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { TestService } from "../../../gen/grpc/testing/test_pb.js";
import { buildSteps, scenario, type Action, type Scenario } from "./fuzz-frames.test-util.js";
import { FuzzPeer, checkAnswers, checkClose, ping, type Frame } from "./fuzz-peer.test-util.js";
import { createWebSocketBridge, type WebSocketBridge, type WebSocketBridgeOptions } from "./index.js";
import { until } from "./test-client.test-util.js";

// Small limits, so that random frames reach them: windows, concurrency, message and metadata size.
const BRIDGE_SETTINGS: Partial<Settings> = {
  initialStreamWindow: 8192,
  initialConnectionWindow: 32768,
  maxConcurrentStreams: 6,
  maxMessageSize: 4096,
  maxMetadataSize: 2048,
};
const RUN_TIMEOUT_MS = 15_000;
const DEEP_RUNS = process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : undefined;
// Bounded in count and in time: the machine is shared, so the time limit ends a slow property early.
const fcOptions = (numRuns: number) =>
  DEEP_RUNS
    ? { numRuns: DEEP_RUNS }
    : ({ numRuns, interruptAfterTimeLimit: 20_000, markInterruptAsFailure: false } as const);

const delay = (ms: number) =>
  new Promise<void>((resolve) => (ms === 0 ? setImmediate(resolve) : setTimeout(resolve, ms)));

async function withTimeout<T>(ms: number, what: string, run: () => Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      run(),
      new Promise<never>(
        (_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms)),
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const unexpected: unknown[] = [];
const onUnexpected = (error: unknown): void => void unexpected.push(error);
// A timer set past 2^31-1 ms fires at once; a listener leak piles up on a long-lived signal or socket.
const onWarning = (warning: Error): void => {
  if (warning.name === "TimeoutOverflowWarning" || warning.name === "MaxListenersExceededWarning")
    unexpected.push(warning);
};
beforeAll(() => {
  process.on("unhandledRejection", onUnexpected);
  process.on("uncaughtException", onUnexpected);
  process.on("warning", onWarning);
});
afterAll(() => {
  process.off("unhandledRejection", onUnexpected);
  process.off("uncaughtException", onUnexpected);
  process.off("warning", onWarning);
});

/** A bridge under test, and how to tell that nothing is left running behind it. */
interface Target {
  readonly bridge: WebSocketBridge;
  readonly url: string;
  /** Resolves when no call is left running behind the bridge; rejects with what is left after `timeoutMs`. */
  settled(timeoutMs: number): Promise<void>;
}

/** What the runs against one target reached, so that a property whose frames never get anywhere fails. */
interface Reached {
  runs: number;
  closedByBridge: number;
  okCalls: number;
  failedCalls: number;
}

function useTarget(
  start: () => Promise<{ options: WebSocketBridgeOptions; settled: Target["settled"]; close?: () => Promise<void> }>,
): Target {
  const target = {} as { -readonly [K in keyof Target]: Target[K] };
  let closeMore: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    const { options, settled, close } = await start();
    closeMore = close;
    // Low water marks too, so that a client that stops reading reaches the socket's backpressure.
    target.bridge = createWebSocketBridge({
      ...options,
      settings: BRIDGE_SETTINGS,
      writeHighWaterMark: 4096,
      socketHighWaterMark: 16 * 1024,
    });
    target.url = (await target.bridge.listen()).url;
    target.settled = settled;
  });
  afterAll(async () => {
    await target.bridge?.close({ drainTimeoutMs: 100 });
    await closeMore?.();
  });
  return target;
}

/** A well-behaved client on a fresh connection gets correct answers. */
async function checkServes(url: string): Promise<void> {
  const transport = createWebSocketTransport({ url, keepalive: false, connectTimeoutMs: 3000 });
  try {
    const client = createClient(TestService, transport);
    await client.emptyCall({}, { timeoutMs: 3000 });
    const res = await client.unaryCall({ responseSize: 7, payload: { body: new Uint8Array(3) } }, { timeoutMs: 3000 });
    expect(res.payload?.body.length).toBe(7);
  } finally {
    await transport.close();
  }
}

/** One run: the scenario's frames on a fresh socket, then every check. Returns what the bridge sent. */
async function fuzzOnce(target: Target, s: Scenario, reached?: Reached): Promise<Frame[]> {
  const { steps, facts } = buildSteps(s);
  const peer = await FuzzPeer.connect(target.url);
  try {
    await withTimeout(RUN_TIMEOUT_MS, "the fuzz run", async () => {
      if (s.stall) peer.ws.pause();
      for (const step of steps) {
        if (!peer.open) break;
        if ("send" in step) peer.ws.send(step.send);
        else if ("text" in step) peer.ws.send(step.text);
        else await delay(step.sleepMs);
      }
      await delay(5);
      peer.ws.resume();
      // Still open: the connection must still answer (or be closing for a reason by now).
      if (peer.open) {
        const probe = Uint8Array.from([0xf0, 0x22, 1, 2, 3, 4, 5, 6]);
        const acked = () =>
          peer.frames.some(
            (f) => f.type === FrameType.PING && f.flags === 1 && f.payload.every((b, i) => b === probe[i]),
          );
        peer.ws.send(ping(probe));
        await until(() => !peer.open || acked(), "a PING ack or a close from the bridge", 3000);
        if (!acked()) await withTimeout(3000, "the close handshake", () => peer.closed);
      }
      checkAnswers(peer, facts);
      checkClose(peer, facts);
    });
  } finally {
    await peer.close();
  }
  await withTimeout(RUN_TIMEOUT_MS, "a fresh client's calls", () => checkServes(target.url));
  await until(() => target.bridge.connections === 0, "the bridge to drop every connection", 3000);
  await target.settled(3000);
  // Warnings are emitted on a later tick.
  await delay(0);
  if (unexpected.length > 0)
    throw new Error(`unhandled error or warning in the process: ${String(unexpected.splice(0)[0])}`);
  if (reached) {
    reached.runs++;
    if (peer.closeEvent) reached.closedByBridge++;
    for (const status of statuses(peer.frames)) status.code === Status.OK ? reached.okCalls++ : reached.failedCalls++;
  }
  return peer.frames;
}

function statuses(frames: Frame[], streamId?: number): Array<Pick<CallStatus, "code" | "message">> {
  return frames
    .filter((f) => f.type === FrameType.TRAILERS && (streamId === undefined || f.streamId === streamId))
    .map((f) => parseTrailers(readMetadata(f.payload, 0, f.payload.length)))
    .map(({ code, message }) => ({ code, message }));
}

// --- the two bridges ------------------------------------------------------------------------

let handlersStarted = 0;
let handlersEnded = 0;
const handlersRunning = new Map<string, number>();
const inProcess = useTarget(async () => {
  const count = (method: string, delta: number) =>
    handlersRunning.set(method, (handlersRunning.get(method) ?? 0) + delta);
  const impl = createTestServiceImpl({
    onStart: (method) => {
      handlersStarted++;
      count(method, 1);
    },
    onEnd: (method) => {
      handlersEnded++;
      count(method, -1);
    },
  });
  return {
    options: { routes: (router) => router.service(TestService, impl) },
    settled: (ms) =>
      until(
        () => handlersStarted === handlersEnded,
        `every handler to end (running: ${JSON.stringify([...handlersRunning].filter(([, n]) => n > 0))})`,
        ms,
      ),
  };
});

let upstream: GrpcJsTestServer;
let forwardedAtBridge = 0;
let forwardedUpstream = 0;
const gateway = useTarget(async () => {
  upstream = await startGrpcJsTestServer();
  return {
    options: {
      upstream: { target: upstream.baseUrl, onCallEnd: () => void forwardedUpstream++ },
      onCallEnd: (info) => void (info.forwarded && forwardedAtBridge++),
    },
    settled: (ms) =>
      until(
        () => forwardedAtBridge === forwardedUpstream,
        `every forwarded call to end upstream (${forwardedAtBridge} ended at the bridge, ${forwardedUpstream} upstream)`,
        ms,
      ),
    close: () => upstream.close(),
  };
});

// --- properties -----------------------------------------------------------------------------

describe("a hostile client's frame sequences never fail the bridge on its side and leave it serving", () => {
  test("in-process handlers", { timeout: 60_000 }, async () => {
    const reached: Reached = { runs: 0, closedByBridge: 0, okCalls: 0, failedCalls: 0 };
    await fc.assert(
      fc.asyncProperty(scenario, (s) => fuzzOnce(inProcess, s, reached).then(() => undefined)),
      fcOptions(300),
    );
    expect(reached.runs).toBeGreaterThan(20);
    // The runs got somewhere: calls completed, calls failed, connections were closed.
    expect(reached.okCalls).toBeGreaterThan(0);
    expect(reached.failedCalls).toBeGreaterThan(0);
    expect(reached.closedByBridge).toBeGreaterThan(0);
    expect(handlersStarted).toBeGreaterThan(0);
  });

  test("a grpc-js upstream", { timeout: 60_000 }, async () => {
    const reached: Reached = { runs: 0, closedByBridge: 0, okCalls: 0, failedCalls: 0 };
    await fc.assert(
      fc.asyncProperty(scenario, (s) => fuzzOnce(gateway, s, reached).then(() => undefined)),
      fcOptions(200),
    );
    expect(reached.runs).toBeGreaterThan(20);
    expect(reached.okCalls).toBeGreaterThan(0);
    expect(reached.failedCalls).toBeGreaterThan(0);
    expect(reached.closedByBridge).toBeGreaterThan(0);
    expect(forwardedUpstream).toBeGreaterThan(0);
  });
});

// --- regressions: failures the fuzzer found, shrunk -----------------------------------------

const TS = "/grpc.testing.TestService/";
const emptyMessage: Action = { k: "data", id: { kind: "last" }, body: { kind: "empty" }, frames: 1, end: true };
const run = (settings: Array<[number, number]>, actions: Action[]): Scenario => ({
  settings,
  actions,
  stall: false,
  corrupt: null,
});
const headers = (method: string, metadata: Array<[string, string]>, end = false): Action => ({
  k: "headers",
  id: { kind: "next" },
  path: TS + method,
  metadata,
  end,
});

describe("regressions found by the fuzzer", () => {
  // setTimeout fires at once for more than 2^31-1 ms: the deadline had passed before the request arrived.
  test.each([
    ["in-process", () => inProcess],
    ["gateway", () => gateway],
  ])("%s: grpc-timeout 99999999H is a deadline far away, not one that passes at once", async (_, target) => {
    const frames = await fuzzOnce(
      target(),
      run([], [headers("EmptyCall", [["grpc-timeout", "99999999H"]]), { k: "sleep", ms: 15 }, emptyMessage]),
    );
    expect(statuses(frames, 1).map((status) => status.code)).toEqual([Status.OK]);
  });

  // Connect's Headers rejects ":authority": building the handler's context threw ("the server failed to start the call").
  test("in-process: a request pseudo-header other than :path is left out of the handler's headers", async () => {
    const frames = await fuzzOnce(
      inProcess,
      run([], [headers("EmptyCall", [[":authority", "elsewhere"]]), emptyMessage]),
    );
    expect(statuses(frames, 1).map((status) => status.code)).toEqual([Status.OK]);
  });

  // The echoed header does not fit the client's MAX_FRAME_SIZE of 1024: in-process the call ended
  // UNKNOWN ("unexpected error"); through the gateway the RangeError escaped from http2's
  // 'response' event as an uncaught exception and the client got DATA without HEADERS.
  const bigEcho: Array<[string, string]> = [["x-grpc-test-echo-initial", "e".repeat(1100)]];
  test("in-process: response headers over the client's max frame size end the call INTERNAL", async () => {
    const frames = await fuzzOnce(
      inProcess,
      run([[SettingId.MAX_FRAME_SIZE, 1024]], [headers("StreamingInputCall", bigEcho, true)]),
    );
    const [status] = statuses(frames, 1);
    expect(status?.code).toBe(Status.INTERNAL);
    expect(status?.message).toContain("invalid response header metadata");
  });

  test("gateway: upstream response headers over the client's max frame size end the call INTERNAL", async () => {
    const frames = await fuzzOnce(
      gateway,
      run([[SettingId.MAX_FRAME_SIZE, 1024]], [headers("EmptyCall", bigEcho), emptyMessage]),
    );
    const [status] = statuses(frames, 1);
    expect(status?.code).toBe(Status.INTERNAL);
    expect(status?.message).toContain("cannot send the response headers of upstream");
    expect(frames.some((f) => f.type === FrameType.DATA)).toBe(false);
  });
});

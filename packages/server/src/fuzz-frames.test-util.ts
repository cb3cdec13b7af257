// The hostile client of the bridge's state-machine fuzz test: fast-check arbitraries for sequences
// of well-formed frames in any order, and the builder that encodes them with the wire's own
// FrameWriter into WebSocket messages (the only place bytes may be corrupted on purpose).
import { create, toBinary } from "@bufbuild/protobuf";
import {
  DEFAULT_SETTINGS,
  FrameType,
  FrameWriter,
  MAX_STREAM_ID,
  PATH,
  SettingId,
  writeMetadataFrame,
  writeMessagePrefix,
  type Metadata,
} from "@grpc-ws/wire";
import fc from "fast-check";
import { EmptySchema } from "../../../gen/grpc/testing/empty_pb.js";
import {
  SimpleRequestSchema,
  StreamingInputCallRequestSchema,
  StreamingOutputCallRequestSchema,
} from "../../../gen/grpc/testing/messages_pb.js";
import { concat } from "./test-client.test-util.js";

const TS = "/grpc.testing.TestService/";
export const METHODS = [
  "EmptyCall",
  "UnaryCall",
  "StreamingOutputCall",
  "StreamingInputCall",
  "FullDuplexCall",
  "HalfDuplexCall",
] as const;

/** Which stream a frame goes to, resolved against the ids opened so far when the frame is built. */
export type IdRef =
  | { kind: "last" }
  | { kind: "older"; n: number }
  | { kind: "next" }
  | { kind: "future"; n: number }
  | { kind: "even" }
  | { kind: "huge" };

/** The body of one DATA action: the gRPC message stream bytes, before they are cut into frames. */
export type Body =
  | { kind: "valid"; size: number; payload: number; params: Array<{ size: number; intervalUs: number }>; count: number }
  | { kind: "random"; bytes: Uint8Array }
  | { kind: "empty" }
  | { kind: "partial"; declared: number; present: number }
  | { kind: "oversize"; declared: number }
  | { kind: "flags"; flags: number }
  | { kind: "raw"; bytes: Uint8Array }
  | { kind: "nothing" }
  | { kind: "fill"; size: number };

export type Action =
  | { k: "settings"; values: Array<[number, number]> }
  | { k: "headers"; id: IdRef; path: string | null; metadata: Metadata; end: boolean }
  | { k: "data"; id: IdRef; body: Body; frames: number; end: boolean }
  | { k: "trailers"; id: IdRef }
  | { k: "rst"; id: IdRef; code: number }
  | { k: "window"; id: IdRef | null; increment: number }
  | { k: "ping"; ack: boolean; payload: Uint8Array }
  | { k: "goaway"; last: number; code: number; debug: string }
  | { k: "text" }
  | { k: "pings"; n: number }
  /** Opens `n` streams, resetting each at once when `reset` ("rapid reset"). */
  | { k: "burst"; n: number; reset: boolean; method: number }
  | { k: "flush" }
  | { k: "sleep"; ms: number };

export interface Scenario {
  /** The client's first SETTINGS (id, value) pairs, or null to start with some other frame. */
  settings: Array<[number, number]> | null;
  actions: Action[];
  /** The client reads nothing from its socket until every message is sent. */
  stall: boolean;
  /** XOR one byte of one WebSocket message. */
  corrupt: { message: number; at: number; xor: number } | null;
}

const idRef: fc.Arbitrary<IdRef> = fc.oneof(
  { weight: 60, arbitrary: fc.constant({ kind: "last" as const }) },
  { weight: 20, arbitrary: fc.record({ kind: fc.constant("older" as const), n: fc.nat(16) }) },
  { weight: 1, arbitrary: fc.constant({ kind: "next" as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("future" as const), n: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: "even" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "huge" as const }) },
);

const headersId: fc.Arbitrary<IdRef> = fc.oneof(
  { weight: 40, arbitrary: fc.constant({ kind: "next" as const }) },
  { weight: 1, arbitrary: idRef },
);

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const errorCode = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 0xd }) }, { weight: 1, arbitrary: u32 });

// Client settings: mostly sane (small windows and sizes make the bridge's limits reachable), some out of range.
const settingValue = (id: number): fc.Arbitrary<number> => {
  switch (id) {
    case SettingId.INITIAL_STREAM_WINDOW:
    case SettingId.INITIAL_CONNECTION_WINDOW:
      return fc.oneof(
        { weight: 40, arbitrary: fc.integer({ min: 1, max: 1 << 20 }) },
        { weight: 1, arbitrary: fc.constantFrom(0, 0x7fffffff, 0x80000000) },
      );
    case SettingId.MAX_FRAME_SIZE:
      return fc.oneof(
        { weight: 20, arbitrary: fc.integer({ min: 1024, max: 1 << 16 }) },
        { weight: 20, arbitrary: fc.constant(1024) },
        { weight: 1, arbitrary: fc.constantFrom(0, 1023, 0xffffff, 0x1000000) },
      );
    case SettingId.MAX_CONCURRENT_STREAMS:
    case SettingId.MAX_MESSAGE_SIZE:
    case SettingId.MAX_METADATA_SIZE:
      return fc.oneof(
        fc.integer({ min: 0, max: 8192 }),
        fc.constant(0xffffffff),
        fc.constant(DEFAULT_SETTINGS.maxMessageSize),
      );
    default:
      return u32;
  }
};
const settingsPairs: fc.Arbitrary<Array<[number, number]>> = fc.array(
  fc.integer({ min: 1, max: 8 }).chain((id) => settingValue(id).map((v): [number, number] => [id, v])),
  { maxLength: 6 },
);

const asciiValue = (max: number) =>
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: max });
const metadataName = fc.string({
  unit: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789-_."),
  minLength: 1,
  maxLength: 12,
});
const echoSize = fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 900, max: 1800 }));
const metadataEntry: fc.Arbitrary<[string, string | Uint8Array]> = fc.oneof(
  fc
    .constantFrom("1m", "5m", "30m", "200m", "1S", "100n", "99999999H", "0m", "abc", "")
    .map((v): [string, string] => ["grpc-timeout", v]),
  // Echoed back by the handlers: sizes around the smallest max frame size a client may advertise.
  echoSize.map((n): [string, string] => ["x-grpc-test-echo-initial", "e".repeat(n)]),
  echoSize.map((n): [string, Uint8Array] => ["x-grpc-test-echo-trailing-bin", new Uint8Array(n)]),
  fc.constantFrom<[string, string]>(
    [":authority", "elsewhere"],
    [":method", "GET"],
    [":path", "/x.Y/Z"],
    ["content-type", "text/plain"],
    ["te", "gzip"],
    ["connection", "close"],
    ["host", "example.com"],
    ["grpc-encoding", "gzip"],
    ["grpc-status", "0"],
  ),
  fc.tuple(
    metadataName.filter((n) => !n.endsWith("-bin")),
    asciiValue(40),
  ),
  fc.tuple(
    metadataName.map((n) => `${n}-bin`),
    fc.uint8Array({ maxLength: 40 }),
  ),
);
const path: fc.Arbitrary<string | null> = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom(...METHODS).map((m) => TS + m) },
  {
    weight: 2,
    arbitrary: fc.constantFrom<string | null>(
      TS + "UnimplementedMethod",
      "/x.Y/Z",
      "/",
      "//",
      "no-slash",
      "",
      null,
      "/grpc.testing.TestService",
    ),
  },
);

const body: fc.Arbitrary<Body> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constant("valid" as const),
      size: fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.constantFrom(-1, 100_000)),
      payload: fc.integer({ min: 0, max: 300 }),
      params: fc.array(
        fc.record({ size: fc.integer({ min: 0, max: 3000 }), intervalUs: fc.constantFrom(0, 0, 1000, 20_000) }),
        { maxLength: 3 },
      ),
      count: fc.integer({ min: 1, max: 3 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("random" as const), bytes: fc.uint8Array({ maxLength: 64 }) }),
  },
  { weight: 2, arbitrary: fc.constant({ kind: "empty" as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("partial" as const),
      declared: fc.integer({ min: 1, max: 5000 }),
      present: fc.integer({ min: -4, max: 4999 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("oversize" as const),
      declared: fc.oneof(fc.constant(0xffffffff), fc.integer({ min: 4097, max: 1 << 24 })),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("flags" as const), flags: fc.integer({ min: 1, max: 255 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("raw" as const), bytes: fc.uint8Array({ maxLength: 32 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: "nothing" as const }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("fill" as const), size: fc.integer({ min: 4000, max: 12_000 }) }),
  },
);

const headers: fc.Arbitrary<Action> = fc.record({
  k: fc.constant("headers" as const),
  id: headersId,
  path,
  metadata: fc.array(metadataEntry, { maxLength: 3 }),
  // Mostly not half-closed: the request messages come in DATA.
  end: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
});

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 60, arbitrary: headers },
  {
    weight: 90,
    arbitrary: fc.record({
      k: fc.constant("data" as const),
      id: idRef,
      body,
      // Many frames per message: more frames than bytes gives empty DATA frames too.
      frames: fc.oneof(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 7, max: 60 })),
      end: fc.boolean(),
    }),
  },
  { weight: 20, arbitrary: fc.record({ k: fc.constant("rst" as const), id: idRef, code: errorCode }) },
  {
    weight: 20,
    arbitrary: fc.record({
      k: fc.constant("window" as const),
      id: fc.option(idRef),
      increment: fc.oneof(
        { weight: 20, arbitrary: fc.integer({ min: 1, max: 1 << 20 }) },
        { weight: 2, arbitrary: fc.constantFrom(0x7fffffff, 0x7ffffff0, 0x40000000) },
        { weight: 1, arbitrary: fc.constantFrom(0, 0x80000000) },
      ),
    }),
  },
  {
    weight: 20,
    arbitrary: fc.record({
      k: fc.constant("ping" as const),
      ack: fc.boolean(),
      payload: fc.uint8Array({ minLength: 8, maxLength: 8 }),
    }),
  },
  {
    weight: 10,
    arbitrary: fc.record({
      k: fc.constant("goaway" as const),
      last: fc.integer({ min: 0, max: MAX_STREAM_ID }),
      // Mostly NO_ERROR: with an error code the bridge closes at once.
      code: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: errorCode }),
      debug: fc.string({ maxLength: 20 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("settings" as const), values: settingsPairs }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("trailers" as const), id: idRef }) },
  { weight: 1, arbitrary: fc.constant({ k: "text" as const }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("pings" as const), n: fc.integer({ min: 100, max: 20_000 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant("burst" as const),
      n: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 990, max: 1100 })),
      reset: fc.boolean(),
      method: fc.nat(METHODS.length - 1),
    }),
  },
  { weight: 40, arbitrary: fc.constant({ k: "flush" as const }) },
  { weight: 20, arbitrary: fc.record({ k: fc.constant("sleep" as const), ms: fc.constantFrom(0, 1, 5, 15) }) },
);

export const scenario: fc.Arbitrary<Scenario> = fc.record({
  settings: fc.oneof({ weight: 19, arbitrary: settingsPairs }, { weight: 1, arbitrary: fc.constant(null) }),
  // Most runs open a stream first: frames for a stream never opened end the connection at once.
  actions: fc
    .tuple(fc.option(headers, { freq: 10 }), fc.array(action, { maxLength: 24 }))
    .map(([first, rest]) => (first ? [first, ...rest] : rest)),
  stall: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  corrupt: fc.oneof(
    { weight: 9, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.record({ message: fc.nat(8), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }) },
  ),
});

/** One step of a run: a binary or text WebSocket message to send, or a pause. */
export type Step = { send: Uint8Array } | { text: string } | { sleepMs: number };

/** What the client told the bridge, for checking the bridge's answers against it. */
export interface ClientFacts {
  /** Every id the client sent HEADERS on. */
  readonly opened: Set<number>;
  /** The settings of the first SETTINGS frame, when there was one. */
  firstSettings: Map<number, number> | undefined;
  /** WINDOW_UPDATE increments the client sent, per stream id (0: the connection). */
  readonly credit: Map<number, number>;
  /** The client sent GOAWAY with an error code: the bridge closes with 1000. */
  sentErrorGoAway: boolean;
  /** A byte was corrupted: the facts above may not be what the bridge read. */
  corrupted: boolean;
}

/** Encodes a scenario into the WebSocket messages to send, resolving stream references as it goes. */
export function buildSteps(s: Scenario): { steps: Step[]; facts: ClientFacts } {
  const facts: ClientFacts = {
    opened: new Set(),
    firstSettings: undefined,
    credit: new Map(),
    sentErrorGoAway: false,
    corrupted: false,
  };
  const opened: number[] = [];
  const paths = new Map<number, string>();
  let maxId = 0;
  const steps: Step[] = [];
  let current: Uint8Array | undefined;
  const writer = new FrameWriter((m) => (current = m.slice()), { schedule: () => undefined, sinkCopies: true });
  let sawSettings = false;
  const flush = (): void => {
    writer.flush();
    if (current) steps.push({ send: current });
    current = undefined;
  };

  const resolve = (ref: IdRef): number => {
    let next = maxId + 1;
    if (next % 2 === 0) next++;
    switch (ref.kind) {
      case "last":
        return opened.at(-1) ?? 1;
      case "older":
        return opened.length > 0 ? opened[ref.n % opened.length]! : 1;
      case "next":
        return Math.min(next, MAX_STREAM_ID);
      case "future":
        return Math.min(next + 2 * ref.n, MAX_STREAM_ID);
      case "even":
        return Math.min(next + 1, MAX_STREAM_ID - 1);
      case "huge":
        return MAX_STREAM_ID;
    }
  };

  const settings = (values: Array<[number, number]>): void => {
    const o = writer.begin(FrameType.SETTINGS, 0, 0, values.length * 6);
    values.forEach(([id, value], i) => {
      writer.buf[o + i * 6] = id >>> 8;
      writer.buf[o + i * 6 + 1] = id;
      writer.writeU32(o + i * 6 + 2, value);
    });
    if (!sawSettings) facts.firstSettings = new Map(values);
    sawSettings = true;
  };

  if (s.settings) settings(s.settings);
  for (const a of s.actions) {
    switch (a.k) {
      case "settings":
        settings(a.values);
        break;
      case "headers": {
        const id = resolve(a.id);
        const metadata: Metadata = a.path === null ? a.metadata : [[PATH, a.path], ...a.metadata];
        writeMetadataFrame(writer, FrameType.HEADERS, id, metadata, a.end);
        opened.push(id);
        facts.opened.add(id);
        if (a.path !== null) paths.set(id, a.path);
        maxId = Math.max(maxId, id);
        break;
      }
      case "data": {
        const id = resolve(a.id);
        const bytes = encodeBody(a.body, paths.get(id) ?? "");
        const n = a.frames;
        for (let i = 0; i < n; i++) {
          const chunk = bytes.subarray(Math.floor((i * bytes.length) / n), Math.floor(((i + 1) * bytes.length) / n));
          writer.data(id, chunk, a.end && i === n - 1);
        }
        break;
      }
      case "trailers":
        writeMetadataFrame(writer, FrameType.TRAILERS, resolve(a.id), [["grpc-status", "0"]]);
        break;
      case "rst":
        writer.rstStream(resolve(a.id), a.code);
        break;
      case "window": {
        const id = a.id === null ? 0 : resolve(a.id);
        writer.windowUpdate(id, a.increment);
        facts.credit.set(id, (facts.credit.get(id) ?? 0) + a.increment);
        break;
      }
      case "ping":
        writer.ping(a.payload, a.ack);
        break;
      case "goaway":
        writer.goAway(a.last, a.code, a.debug);
        if (a.code !== 0) facts.sentErrorGoAway = true;
        break;
      case "pings":
        for (let i = 0; i < a.n; i++) writer.ping(new Uint8Array(8), false);
        break;
      case "burst":
        for (let i = 0; i < a.n; i++) {
          const id = resolve({ kind: "next" });
          writeMetadataFrame(writer, FrameType.HEADERS, id, [[PATH, TS + METHODS[a.method]!]], false);
          if (a.reset) writer.rstStream(id, 0x8);
          opened.push(id);
          facts.opened.add(id);
          paths.set(id, TS + METHODS[a.method]!);
          maxId = Math.max(maxId, id);
        }
        break;
      case "text":
        flush();
        steps.push({ text: "not binary" });
        break;
      case "flush":
        flush();
        break;
      case "sleep":
        flush();
        steps.push({ sleepMs: a.ms });
        break;
    }
  }
  flush();

  if (s.corrupt) {
    const messages = steps.filter((step): step is { send: Uint8Array } => "send" in step);
    const target = messages[s.corrupt.message % Math.max(1, messages.length)];
    if (target && target.send.length > 0) {
      target.send[s.corrupt.at % target.send.length]! ^= s.corrupt.xor;
      facts.corrupted = true;
    }
  }
  return { steps, facts };
}

function prefixed(message: Uint8Array, flags = 0, declared = message.length): Uint8Array {
  const out = new Uint8Array(5 + message.length);
  writeMessagePrefix(out, 0, declared, flags);
  out.set(message, 5);
  return out;
}

// A request the method really takes, so that handlers get past decoding.
function validRequest(b: Extract<Body, { kind: "valid" }>, path: string): Uint8Array {
  const method = path.slice(path.lastIndexOf("/") + 1);
  switch (method) {
    case "EmptyCall":
      return toBinary(EmptySchema, create(EmptySchema));
    case "UnaryCall":
      return toBinary(
        SimpleRequestSchema,
        create(SimpleRequestSchema, { responseSize: b.size, payload: { body: new Uint8Array(b.payload) } }),
      );
    case "StreamingInputCall":
      return toBinary(
        StreamingInputCallRequestSchema,
        create(StreamingInputCallRequestSchema, { payload: { body: new Uint8Array(b.payload) } }),
      );
    default:
      return toBinary(
        StreamingOutputCallRequestSchema,
        create(StreamingOutputCallRequestSchema, {
          responseParameters: b.params,
          payload: { body: new Uint8Array(b.payload) },
        }),
      );
  }
}

function encodeBody(b: Body, path: string): Uint8Array {
  switch (b.kind) {
    case "valid":
      return concat(Array.from({ length: b.count }, () => prefixed(validRequest(b, path))));
    case "random":
      return prefixed(b.bytes);
    case "empty":
      return prefixed(new Uint8Array(0));
    case "partial":
      // A prefix (or part of one) promising more bytes than follow.
      return b.present < 0
        ? prefixed(new Uint8Array(0), 0, b.declared).subarray(0, 5 + b.present)
        : prefixed(new Uint8Array(Math.min(b.present, b.declared - 1)), 0, b.declared);
    case "oversize":
      return prefixed(new Uint8Array(8), 0, b.declared);
    case "flags":
      return prefixed(new Uint8Array(3), b.flags);
    case "raw":
      return b.bytes;
    case "nothing":
      return new Uint8Array(0);
    case "fill":
      return prefixed(new Uint8Array(b.size));
  }
}

// Client side of the grpc interop test cases (grpc/grpc doc/interop-test-descriptions.md),
// written against Connect's public Transport so any transport can run them: grpc-ws,
// connect-node's gRPC transport, ... Browser-safe: no Node-only imports, no Buffer.
import { toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createClient,
  decodeBinaryHeader,
  encodeBinaryHeader,
  type Client,
  type Transport,
} from "@connectrpc/connect";
import { EmptySchema } from "../../../gen/grpc/testing/empty_pb.js";
import {
  PayloadType,
  type Payload,
  type StreamingInputCallRequestSchema,
  type StreamingOutputCallRequestSchema,
  type StreamingOutputCallResponse,
} from "../../../gen/grpc/testing/messages_pb.js";
import { TestService, UnimplementedService } from "../../../gen/grpc/testing/test_pb.js";
import {
  ECHO_INITIAL_VALUE,
  ECHO_TRAILING_VALUE,
  REQUEST_SIZES,
  RESPONSE_SIZES,
  requests,
  zeros,
} from "./case-data.js";
import { ECHO_INITIAL_KEY, ECHO_TRAILING_KEY, pushable, sleep } from "./util.js";

/** One interop case: creates its own clients from the transport, throws on any failed assertion. */
export type InteropCase = (transport: Transport) => Promise<void>;

export const interopCaseNames = [
  "empty_unary",
  "large_unary",
  "client_streaming",
  "server_streaming",
  "ping_pong",
  "empty_stream",
  "custom_metadata",
  "status_code_and_message",
  "special_status_message",
  "unimplemented_method",
  "unimplemented_service",
  "cancel_after_begin",
  "cancel_after_first_response",
  "timeout_on_sleeping_server",
] as const;

export type InteropCaseName = (typeof interopCaseNames)[number];

// ---------------------------------------------------------------------------
// Assertions (tiny, dependency-free, so the cases also run in a browser bundle)

export class InteropAssertionError extends Error {
  override name = "InteropAssertionError";
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new InteropAssertionError(message);
}

export function assertEqual<T>(actual: T, expected: T, what: string): void {
  if (!Object.is(actual, expected)) {
    throw new InteropAssertionError(`${what}: expected ${show(expected)}, got ${show(actual)}`);
  }
}

export function assertBytesEqual(actual: Uint8Array, expected: Uint8Array, what: string): void {
  const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  if (actual.length !== expected.length || actual.some((x, i) => x !== expected[i])) {
    throw new InteropAssertionError(`${what}: expected 0x${hex(expected)}, got 0x${hex(actual)}`);
  }
}

/** Runs `fn` and asserts it fails with a ConnectError of `code` (and `rawMessage`, if given). */
export async function expectConnectError(
  fn: () => Promise<unknown>,
  code: Code,
  what: string,
  rawMessage?: string,
): Promise<ConnectError> {
  let result: unknown;
  try {
    result = await fn();
  } catch (e) {
    if (!(e instanceof ConnectError)) {
      throw new InteropAssertionError(`${what}: expected ConnectError ${Code[code]}, got ${describeError(e)}`);
    }
    if (e.code !== code) {
      throw new InteropAssertionError(`${what}: expected code ${Code[code]} (${code}), got ${describeError(e)}`);
    }
    if (rawMessage !== undefined) assertEqual(e.rawMessage, rawMessage, `${what}: status message`);
    return e;
  }
  throw new InteropAssertionError(
    `${what}: expected ConnectError ${Code[code]}, but the call succeeded with ${show(result)}`,
  );
}

function describeError(e: unknown): string {
  if (e instanceof ConnectError) return `ConnectError ${Code[e.code]} (${e.code}) ${show(e.rawMessage)}`;
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return show(e);
}

function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (v instanceof Uint8Array) return `Uint8Array(${v.length})`;
  try {
    const s = JSON.stringify(v, (_k, x: unknown) =>
      x instanceof Uint8Array ? `Uint8Array(${x.length})` : typeof x === "bigint" ? String(x) : x,
    );
    return s === undefined ? String(v) : s.length > 200 ? `${s.slice(0, 200)}...` : s;
  } catch {
    return String(v);
  }
}

/** Payload present, COMPRESSABLE, `size` bytes, all zero (the spec allows clients to check the contents). */
function assertPayload(payload: Payload | undefined, size: number, what: string): void {
  assert(payload !== undefined, `${what}: response has no payload`);
  assertEqual(payload.type, PayloadType.COMPRESSABLE, `${what}: payload type`);
  assertEqual(payload.body.length, size, `${what}: payload body size`);
  const nonZero = payload.body.findIndex((b) => b !== 0);
  assert(nonZero === -1, `${what}: payload byte ${nonZero} is not zero`);
}

// ---------------------------------------------------------------------------
// Helpers

type OutputRequestInit = MessageInitShape<typeof StreamingOutputCallRequestSchema>;

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const LARGE_REQUEST_SIZE = 271828;
const LARGE_RESPONSE_SIZE = 314159;
const TEST_STATUS_MESSAGE = "test status message";
const SPECIAL_STATUS_MESSAGE = "\t\ntest with whitespace\r\nand Unicode BMP \u263A and non-BMP \u{1F608}\t\n";

function testClient(transport: Transport): Client<typeof TestService> {
  return createClient(TestService, transport);
}

function echoHeaders(): Headers {
  const h = new Headers();
  h.set(ECHO_INITIAL_KEY, ECHO_INITIAL_VALUE);
  // Connect Headers carry binary (-bin) metadata as base64 strings.
  h.set(ECHO_TRAILING_KEY, encodeBinaryHeader(ECHO_TRAILING_VALUE));
  return h;
}

function assertEchoedMetadata(header: Headers | undefined, trailer: Headers | undefined, what: string): void {
  assert(header !== undefined, `${what}: onHeader was not called`);
  assert(trailer !== undefined, `${what}: onTrailer was not called`);
  assertEqual(header.get(ECHO_INITIAL_KEY), ECHO_INITIAL_VALUE, `${what}: initial metadata ${ECHO_INITIAL_KEY}`);
  const bin = trailer.get(ECHO_TRAILING_KEY);
  assert(
    bin !== null,
    `${what}: trailing metadata ${ECHO_TRAILING_KEY} missing (trailers: ${show([...trailer.keys()])})`,
  );
  assertBytesEqual(decodeBinaryHeader(bin), ECHO_TRAILING_VALUE, `${what}: trailing metadata ${ECHO_TRAILING_KEY}`);
}

/** Expects a FullDuplexCall with these requests to end with `code`/`message` (after any responses). */
async function expectDuplexStatus(
  client: Client<typeof TestService>,
  req: OutputRequestInit,
  code: Code,
  message: string,
  what: string,
): Promise<void> {
  await expectConnectError(() => collect(client.fullDuplexCall(requests(req))), code, what, message);
}

// ---------------------------------------------------------------------------
// The cases

export const interopCases: Record<InteropCaseName, InteropCase> = {
  async empty_unary(transport) {
    const res = await testClient(transport).emptyCall({});
    assertEqual(res.$typeName, "grpc.testing.Empty", "response type");
    assertEqual(toBinary(EmptySchema, res).length, 0, "serialized response size");
  },

  async large_unary(transport) {
    const res = await testClient(transport).unaryCall({
      responseSize: LARGE_RESPONSE_SIZE,
      payload: { body: zeros(LARGE_REQUEST_SIZE) },
    });
    assertPayload(res.payload, LARGE_RESPONSE_SIZE, "large_unary");
  },

  async client_streaming(transport) {
    const res = await testClient(transport).streamingInputCall(
      requests(...REQUEST_SIZES.map((n) => ({ payload: { body: zeros(n) } }))),
    );
    assertEqual(res.aggregatedPayloadSize, 74922, "aggregated_payload_size");
  },

  async server_streaming(transport) {
    const responses = await collect(
      testClient(transport).streamingOutputCall({
        responseParameters: RESPONSE_SIZES.map((size) => ({ size })),
      }),
    );
    assertEqual(responses.length, RESPONSE_SIZES.length, "number of responses");
    responses.forEach((r, i) => assertPayload(r.payload, RESPONSE_SIZES[i] as number, `response ${i}`));
  },

  async ping_pong(transport) {
    const out = pushable<OutputRequestInit>();
    const it = testClient(transport).fullDuplexCall(out)[Symbol.asyncIterator]();
    try {
      for (let i = 0; i < REQUEST_SIZES.length; i++) {
        // The next request goes out only after the previous reply arrived.
        out.push({
          responseParameters: [{ size: RESPONSE_SIZES[i] as number }],
          payload: { body: zeros(REQUEST_SIZES[i] as number) },
        });
        const r = await it.next();
        assert(!r.done, `stream ended after ${i} responses, expected ${REQUEST_SIZES.length}`);
        assertPayload(r.value.payload, RESPONSE_SIZES[i] as number, `response ${i}`);
      }
      out.end();
      const last = await it.next();
      assert(last.done === true, "expected exactly four responses, got a fifth");
    } finally {
      out.end();
    }
  },

  async empty_stream(transport) {
    const responses = await collect(testClient(transport).fullDuplexCall(requests<OutputRequestInit>()));
    assertEqual(responses.length, 0, "number of responses");
  },

  async custom_metadata(transport) {
    const client = testClient(transport);

    // 1. UnaryCall
    {
      let header: Headers | undefined;
      let trailer: Headers | undefined;
      const res = await client.unaryCall(
        { responseSize: LARGE_RESPONSE_SIZE, payload: { body: zeros(LARGE_REQUEST_SIZE) } },
        { headers: echoHeaders(), onHeader: (h) => (header = h), onTrailer: (t) => (trailer = t) },
      );
      assertPayload(res.payload, LARGE_RESPONSE_SIZE, "UnaryCall");
      assertEchoedMetadata(header, trailer, "UnaryCall");
    }

    // 2. FullDuplexCall, one request, then half-close
    {
      let header: Headers | undefined;
      let trailer: Headers | undefined;
      const responses = await collect(
        client.fullDuplexCall(
          requests<OutputRequestInit>({
            responseParameters: [{ size: LARGE_RESPONSE_SIZE }],
            payload: { body: zeros(LARGE_REQUEST_SIZE) },
          }),
          { headers: echoHeaders(), onHeader: (h) => (header = h), onTrailer: (t) => (trailer = t) },
        ),
      );
      assertEqual(responses.length, 1, "FullDuplexCall: number of responses");
      assertPayload((responses[0] as StreamingOutputCallResponse).payload, LARGE_RESPONSE_SIZE, "FullDuplexCall");
      assertEchoedMetadata(header, trailer, "FullDuplexCall");
    }
  },

  async status_code_and_message(transport) {
    const client = testClient(transport);
    const responseStatus = { code: 2, message: TEST_STATUS_MESSAGE };
    await expectConnectError(
      () => client.unaryCall({ responseStatus }),
      Code.Unknown,
      "UnaryCall",
      TEST_STATUS_MESSAGE,
    );
    await expectDuplexStatus(client, { responseStatus }, Code.Unknown, TEST_STATUS_MESSAGE, "FullDuplexCall");
  },

  async special_status_message(transport) {
    const client = testClient(transport);
    const responseStatus = { code: 2, message: SPECIAL_STATUS_MESSAGE };
    await expectConnectError(
      () => client.unaryCall({ responseStatus }),
      Code.Unknown,
      "UnaryCall",
      SPECIAL_STATUS_MESSAGE,
    );
    // Not in the spec (unary only), but the streaming trailer path must carry the same message.
    await expectDuplexStatus(client, { responseStatus }, Code.Unknown, SPECIAL_STATUS_MESSAGE, "FullDuplexCall");
  },

  async unimplemented_method(transport) {
    await expectConnectError(
      () => testClient(transport).unimplementedMethod({}),
      Code.Unimplemented,
      "UnimplementedMethod",
    );
  },

  async unimplemented_service(transport) {
    const client = createClient(UnimplementedService, transport);
    await expectConnectError(
      () => client.unimplementedCall({}),
      Code.Unimplemented,
      "UnimplementedService/UnimplementedCall",
    );
  },

  async cancel_after_begin(transport) {
    const ac = new AbortController();
    const out = pushable<MessageInitShape<typeof StreamingInputCallRequestSchema>>();
    try {
      const call = testClient(transport).streamingInputCall(out, { signal: ac.signal });
      // An early failure must not surface as an unhandled rejection while we wait.
      call.catch(() => undefined);
      // Let the call open (request metadata on the wire) before cancelling, without sending a message.
      await sleep(10);
      ac.abort();
      await expectConnectError(() => call, Code.Canceled, "StreamingInputCall");
    } finally {
      out.end();
    }
  },

  async cancel_after_first_response(transport) {
    const ac = new AbortController();
    const out = pushable<OutputRequestInit>();
    const it = testClient(transport).fullDuplexCall(out, { signal: ac.signal })[Symbol.asyncIterator]();
    try {
      out.push({ responseParameters: [{ size: 31415 }], payload: { body: zeros(27182) } });
      const first = await it.next();
      assert(!first.done, "stream ended before the first response");
      assertPayload(first.value.payload, 31415, "first response");
      ac.abort();
      await expectConnectError(() => it.next(), Code.Canceled, "FullDuplexCall after cancel");
    } finally {
      out.end();
    }
  },

  async timeout_on_sleeping_server(transport) {
    const out = pushable<OutputRequestInit>();
    // No response_parameters and never a half-close ("client waits"): the server has nothing to
    // do until the deadline. `out` is deliberately never ended: a late half-close could reach the
    // server before the reset and let the call end cleanly there instead of by deadline/cancel.
    out.push({ payload: { body: zeros(27182) } });
    await expectConnectError(
      () => collect(testClient(transport).fullDuplexCall(out, { timeoutMs: 1 })),
      Code.DeadlineExceeded,
      "FullDuplexCall with 1 ms timeout",
    );
  },
};

/** Runs one case by name; convenient for test runners that iterate `interopCaseNames`. */
export function runInteropCase(name: InteropCaseName, transport: Transport): Promise<void> {
  return interopCases[name](transport);
}

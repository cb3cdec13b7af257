// Calls through the two existing `grpc-websockets` client libraries, unchanged, against a bridge:
// @improbable-eng/grpc-web (grpc.WebsocketTransport) and nice-grpc-web (WebsocketTransport). The
// same cases run in Node and in Chromium. Browser-safe: no Node-only imports.
import { grpc } from "@improbable-eng/grpc-web";
import { ClientError, Metadata, WebsocketTransport, createChannel, createClient } from "nice-grpc-web";
import {
  SimpleRequestSchema,
  StreamingInputCallRequestSchema,
  StreamingOutputCallRequestSchema,
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
import { assert, assertBytesEqual, assertEqual } from "./cases.js";
import { improbableMethod, improbableRequest, niceService, type ImprobableMessage } from "./compat-clients.js";
import { ECHO_INITIAL_KEY, ECHO_TRAILING_KEY } from "./util.js";

export const compatCaseNames = [
  "unary_with_metadata",
  "server_streaming",
  "client_streaming",
  "bidi_ping_pong",
  "status_and_message",
  "unimplemented",
  "deadline",
  "cancel_after_first_response",
] as const;
export type CompatCaseName = (typeof compatCaseNames)[number];
export type CompatLibrary = "improbable-eng" | "nice-grpc-web";
/** One case: runs calls to the bridge at `baseUrl` (http://host:port[/path]), throws on any failed assertion. */
export type CompatCase = (baseUrl: string) => Promise<void>;

const ECHO_TRAILING_BASE64 = "q6ur";
export const COMPAT_STATUS_MESSAGE = "\t\ntest with whitespace\r\nand Unicode BMP \u263A and non-BMP \u{1F608}\t\n";
/** The deadline the `deadline` case sends in `grpc-timeout`; the handler sleeps 5 s. */
export const COMPAT_DEADLINE_MS = 300;

function base64ToBytes(text: string): Uint8Array {
  const bin = atob(text);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

// ---------------------------------------------------------------------------
// @improbable-eng/grpc-web: callbacks, turned into one promise per call.

interface ImprobableResult<T> {
  code: grpc.Code;
  message: string;
  headers: grpc.Metadata | undefined;
  trailers: grpc.Metadata;
  messages: T[];
}

interface ImprobableCall<T> {
  metadata?: Record<string, string>;
  requests: ImprobableMessage<unknown>[];
  /** Half-close after the requests (default true). */
  finishSend?: boolean;
  /** Each response as it arrives; may send more requests or close (cancel) the call. */
  onMessage?(message: T, client: grpc.Client<grpc.ProtobufMessage, grpc.ProtobufMessage>): void;
}

function improbable<T>(
  baseUrl: string,
  method: ReturnType<typeof improbableMethod>,
  call: ImprobableCall<T>,
): Promise<ImprobableResult<T>> {
  return new Promise((resolve) => {
    const client = grpc.client(method as unknown as grpc.MethodDefinition<grpc.ProtobufMessage, grpc.ProtobufMessage>, {
      host: baseUrl,
      transport: grpc.WebsocketTransport(),
    });
    const messages: T[] = [];
    let headers: grpc.Metadata | undefined;
    client.onHeaders((h) => (headers = h));
    client.onMessage((m) => {
      const value = (m as unknown as ImprobableMessage<T>).value;
      messages.push(value);
      call.onMessage?.(value, client);
    });
    client.onEnd((code, message, trailers) => resolve({ code, message, headers, trailers, messages }));
    client.start(call.metadata);
    for (const r of call.requests) client.send(r);
    if (call.finishSend !== false) client.finishSend();
  });
}

const m = {
  unaryCall: improbableMethod(TestService.method.unaryCall),
  streamingOutputCall: improbableMethod(TestService.method.streamingOutputCall),
  streamingInputCall: improbableMethod(TestService.method.streamingInputCall),
  fullDuplexCall: improbableMethod(TestService.method.fullDuplexCall),
  unimplementedCall: improbableMethod(UnimplementedService.method.unimplementedCall),
};

function expectCode(result: { code: number; message: string }, code: number, what: string, message?: string): void {
  assertEqual(result.code, code, `${what}: status code (message ${JSON.stringify(result.message)})`);
  if (message !== undefined) assertEqual(result.message, message, `${what}: status message`);
}

const improbableCases: Record<CompatCaseName, CompatCase> = {
  async unary_with_metadata(baseUrl) {
    const r = await improbable<{ payload?: { body: Uint8Array } }>(baseUrl, m.unaryCall, {
      metadata: { [ECHO_INITIAL_KEY]: ECHO_INITIAL_VALUE, [ECHO_TRAILING_KEY]: ECHO_TRAILING_BASE64 },
      requests: [improbableRequest(SimpleRequestSchema, { responseSize: 31415, payload: { body: zeros(27182) } })],
    });
    expectCode(r, grpc.Code.OK, "UnaryCall");
    assertEqual(r.messages.length, 1, "number of responses");
    assertEqual(r.messages[0]?.payload?.body.length, 31415, "response payload size");
    assertEqual(r.headers?.get(ECHO_INITIAL_KEY)[0], ECHO_INITIAL_VALUE, "echoed initial metadata");
    const bin = r.trailers.get(ECHO_TRAILING_KEY)[0];
    assert(bin !== undefined, "echoed trailing -bin metadata missing");
    assertBytesEqual(base64ToBytes(bin), ECHO_TRAILING_VALUE, "echoed trailing -bin metadata");
  },

  async server_streaming(baseUrl) {
    const r = await improbable<StreamingOutputCallResponse>(baseUrl, m.streamingOutputCall, {
      requests: [
        improbableRequest(StreamingOutputCallRequestSchema, {
          responseParameters: RESPONSE_SIZES.map((size) => ({ size })),
        }),
      ],
    });
    expectCode(r, grpc.Code.OK, "StreamingOutputCall");
    assertEqual(r.messages.map((x) => x.payload?.body.length).join(), RESPONSE_SIZES.join(), "response sizes");
  },

  async client_streaming(baseUrl) {
    const r = await improbable<{ aggregatedPayloadSize: number }>(baseUrl, m.streamingInputCall, {
      requests: REQUEST_SIZES.map((n) =>
        improbableRequest(StreamingInputCallRequestSchema, { payload: { body: zeros(n) } }),
      ),
    });
    expectCode(r, grpc.Code.OK, "StreamingInputCall");
    assertEqual(r.messages[0]?.aggregatedPayloadSize, 74922, "aggregated_payload_size");
  },

  async bidi_ping_pong(baseUrl) {
    const request = (i: number) =>
      improbableRequest(StreamingOutputCallRequestSchema, {
        responseParameters: [{ size: RESPONSE_SIZES[i]! }],
        payload: { body: zeros(REQUEST_SIZES[i]!) },
      });
    let sent = 1;
    const r = await improbable<StreamingOutputCallResponse>(baseUrl, m.fullDuplexCall, {
      requests: [request(0)],
      finishSend: false,
      // The next request goes out only after the previous reply arrived.
      onMessage(_message, client) {
        if (sent < REQUEST_SIZES.length) client.send(request(sent++));
        else client.finishSend();
      },
    });
    expectCode(r, grpc.Code.OK, "FullDuplexCall");
    assertEqual(r.messages.map((x) => x.payload?.body.length).join(), RESPONSE_SIZES.join(), "response sizes");
  },

  async status_and_message(baseUrl) {
    const responseStatus = { code: 2, message: COMPAT_STATUS_MESSAGE };
    const unary = await improbable(baseUrl, m.unaryCall, {
      requests: [improbableRequest(SimpleRequestSchema, { responseStatus })],
    });
    expectCode(unary, grpc.Code.Unknown, "UnaryCall", COMPAT_STATUS_MESSAGE);
    const duplex = await improbable(baseUrl, m.fullDuplexCall, {
      requests: [improbableRequest(StreamingOutputCallRequestSchema, { responseStatus })],
    });
    expectCode(duplex, grpc.Code.Unknown, "FullDuplexCall", COMPAT_STATUS_MESSAGE);
  },

  async unimplemented(baseUrl) {
    const r = await improbable(baseUrl, m.unimplementedCall, {
      requests: [improbableRequest(UnimplementedService.method.unimplementedCall.input, {})],
    });
    expectCode(r, grpc.Code.Unimplemented, "UnimplementedCall");
  },

  async deadline(baseUrl) {
    // The library has no deadline option; grpc-timeout is ordinary metadata to it.
    const r = await improbable(baseUrl, m.streamingOutputCall, {
      metadata: { "grpc-timeout": `${COMPAT_DEADLINE_MS}m` },
      requests: [
        improbableRequest(StreamingOutputCallRequestSchema, {
          responseParameters: [{ size: 1, intervalUs: 5_000_000 }],
        }),
      ],
    });
    expectCode(r, grpc.Code.DeadlineExceeded, "StreamingOutputCall with a deadline");
  },

  async cancel_after_first_response(baseUrl) {
    // close() cancels (closes the socket) and silences every callback: the call never "ends" here.
    const first = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the first response never arrived")), 5_000);
      void improbable<StreamingOutputCallResponse>(baseUrl, m.fullDuplexCall, {
        requests: [
          improbableRequest(StreamingOutputCallRequestSchema, {
            responseParameters: [{ size: 31415 }, { size: 1, intervalUs: 5_000_000 }],
          }),
        ],
        finishSend: false,
        onMessage(message, client) {
          clearTimeout(timer);
          client.close();
          resolve(message.payload?.body.length ?? -1);
        },
      }).then((r) => {
        clearTimeout(timer);
        reject(new Error(`the call ended before the cancel: ${r.code} ${JSON.stringify(r.message)}`));
      });
    });
    assertEqual(first, 31415, "first response size");
  },
};

// ---------------------------------------------------------------------------
// nice-grpc-web: promises and async iterables already.

async function niceError(fn: () => Promise<unknown>, code: number, what: string, details?: string): Promise<void> {
  try {
    await fn();
  } catch (e) {
    assert(e instanceof ClientError, `${what}: expected a ClientError, got ${String(e)}`);
    assertEqual(e.code as number, code, `${what}: status code (details ${JSON.stringify(e.details)})`);
    if (details !== undefined) assertEqual(e.details, details, `${what}: status message`);
    return;
  }
  throw new Error(`${what}: the call succeeded, expected status ${code}`);
}

function niceClients(baseUrl: string) {
  const channel = createChannel(baseUrl, WebsocketTransport());
  return {
    test: createClient(niceService(TestService), channel),
    unimplemented: createClient(niceService(UnimplementedService), channel),
  };
}

const niceCases: Record<CompatCaseName, CompatCase> = {
  async unary_with_metadata(baseUrl) {
    const { test } = niceClients(baseUrl);
    let header: Metadata | undefined;
    let trailer: Metadata | undefined;
    const res = await test.unaryCall(
      { responseSize: 31415, payload: { body: zeros(27182) } },
      {
        metadata: Metadata({ [ECHO_INITIAL_KEY]: ECHO_INITIAL_VALUE, [ECHO_TRAILING_KEY]: ECHO_TRAILING_VALUE }),
        onHeader: (h) => (header = h),
        onTrailer: (t) => (trailer = t),
      },
    );
    assertEqual(res.payload?.body.length, 31415, "response payload size");
    assertEqual(header?.get(ECHO_INITIAL_KEY), ECHO_INITIAL_VALUE, "echoed initial metadata");
    const bin = trailer?.get(ECHO_TRAILING_KEY);
    assert(bin instanceof Uint8Array, "echoed trailing -bin metadata missing");
    assertBytesEqual(bin, ECHO_TRAILING_VALUE, "echoed trailing -bin metadata");
  },

  async server_streaming(baseUrl) {
    const sizes: number[] = [];
    for await (const r of niceClients(baseUrl).test.streamingOutputCall({
      responseParameters: RESPONSE_SIZES.map((size) => ({ size })),
    }))
      sizes.push(r.payload?.body.length ?? -1);
    assertEqual(sizes.join(), RESPONSE_SIZES.join(), "response sizes");
  },

  async client_streaming(baseUrl) {
    const res = await niceClients(baseUrl).test.streamingInputCall(
      requests(...REQUEST_SIZES.map((n) => ({ payload: { body: zeros(n) } }))),
    );
    assertEqual(res.aggregatedPayloadSize, 74922, "aggregated_payload_size");
  },

  async bidi_ping_pong(baseUrl) {
    // Each request waits for the previous reply: the generator is pulled only after it came.
    let replies = 0;
    const waiters: Array<() => void> = [];
    async function* paced() {
      for (let i = 0; i < REQUEST_SIZES.length; i++) {
        if (i > replies) await new Promise<void>((resolve) => waiters.push(resolve));
        yield { responseParameters: [{ size: RESPONSE_SIZES[i]! }], payload: { body: zeros(REQUEST_SIZES[i]!) } };
      }
    }
    const sizes: number[] = [];
    for await (const r of niceClients(baseUrl).test.fullDuplexCall(paced())) {
      sizes.push(r.payload?.body.length ?? -1);
      replies++;
      waiters.shift()?.();
    }
    assertEqual(sizes.join(), RESPONSE_SIZES.join(), "response sizes");
  },

  async status_and_message(baseUrl) {
    const { test } = niceClients(baseUrl);
    const responseStatus = { code: 2, message: COMPAT_STATUS_MESSAGE };
    await niceError(() => test.unaryCall({ responseStatus }), 2, "UnaryCall", COMPAT_STATUS_MESSAGE);
    await niceError(
      async () => {
        for await (const _ of test.fullDuplexCall(requests({ responseStatus }))) void _;
      },
      2,
      "FullDuplexCall",
      COMPAT_STATUS_MESSAGE,
    );
  },

  async unimplemented(baseUrl) {
    await niceError(() => niceClients(baseUrl).unimplemented.unimplementedCall({}), 12, "UnimplementedCall");
  },

  async deadline(baseUrl) {
    // nice-grpc-web's own deadline middleware only aborts locally; grpc-timeout makes the server enforce it.
    await niceError(
      async () => {
        for await (const _ of niceClients(baseUrl).test.streamingOutputCall(
          { responseParameters: [{ size: 1, intervalUs: 5_000_000 }] },
          { metadata: Metadata({ "grpc-timeout": `${COMPAT_DEADLINE_MS}m` }) },
        ))
          void _;
      },
      4,
      "StreamingOutputCall with a deadline",
    );
  },

  async cancel_after_first_response(baseUrl) {
    const ac = new AbortController();
    let first = 0;
    try {
      for await (const r of niceClients(baseUrl).test.fullDuplexCall(
        (async function* () {
          yield { responseParameters: [{ size: 31415 }, { size: 1, intervalUs: 5_000_000 }] };
          await new Promise((resolve) => ac.signal.addEventListener("abort", resolve));
        })(),
        { signal: ac.signal },
      )) {
        first = r.payload?.body.length ?? -1;
        ac.abort();
      }
    } catch (e) {
      assertEqual((e as Error).name, "AbortError", "error after abort");
    }
    assertEqual(first, 31415, "first response size");
  },
};

export const compatCases: Record<CompatLibrary, Record<CompatCaseName, CompatCase>> = {
  "improbable-eng": improbableCases,
  "nice-grpc-web": niceCases,
};

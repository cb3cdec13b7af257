// grpc.testing.TestService in Connect's ServiceImpl shape, following the server
// features of grpc/grpc doc/interop-test-descriptions.md. Browser-safe (no Node imports),
// so it can also run behind an in-page transport.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { TestService } from "../../../gen/grpc/testing/test_pb.js";
import {
  PayloadSchema,
  PayloadType,
  type EchoStatus,
  type Payload,
  type StreamingOutputCallRequest,
  type StreamingOutputCallResponseSchema,
} from "../../../gen/grpc/testing/messages_pb.js";
import { messageCompressionKey } from "@grpc-ws/wire";
import { ECHO_INITIAL_KEY, ECHO_TRAILING_KEY, abortable, sleep } from "./util.js";

/** All TestService methods except UnimplementedMethod, which is left out on purpose so servers answer UNIMPLEMENTED. */
export type TestServiceImpl = Omit<ServiceImpl<typeof TestService>, "unimplementedMethod">;

/** Proto method names as they appear in the path, e.g. "FullDuplexCall". */
export type TestServiceMethodName =
  | "EmptyCall"
  | "UnaryCall"
  | "StreamingOutputCall"
  | "StreamingInputCall"
  | "FullDuplexCall"
  | "HalfDuplexCall";

/**
 * Hooks for tests to watch handlers run. `onAbort` fires when `ctx.signal` aborts while
 * the handler is still running (client cancel, deadline, connection loss); `onEnd`
 * fires when the handler finishes, with the error it ended with (if any).
 */
export interface TestServiceObserver {
  onStart?(method: TestServiceMethodName, ctx: HandlerContext): void;
  onAbort?(method: TestServiceMethodName, reason: unknown): void;
  onEnd?(method: TestServiceMethodName, error: unknown): void;
}

type OutputInit = MessageInitShape<typeof StreamingOutputCallResponseSchema>;

/** Payload of `size` zero bytes; only COMPRESSABLE is defined by the protos, anything else is INVALID_ARGUMENT per spec. */
export function makePayload(type: PayloadType, size: number): Payload {
  if (type !== PayloadType.COMPRESSABLE) {
    throw new ConnectError(`unsupported payload type ${String(type)}`, Code.InvalidArgument);
  }
  if (!Number.isInteger(size) || size < 0) {
    throw new ConnectError(`invalid payload size ${size}`, Code.InvalidArgument);
  }
  return create(PayloadSchema, { type, body: new Uint8Array(size) });
}

/** "Echo Status": a non-OK response_status ends the call with that code and message. */
export function statusError(status: EchoStatus | undefined): ConnectError | undefined {
  if (!status || status.code === 0) return undefined;
  const code = status.code >= 1 && status.code <= 16 ? (status.code as Code) : Code.Unknown;
  return new ConnectError(status.message, code);
}

/** "Echo Metadata": binary values are base64 strings in Connect Headers and are copied unchanged. */
function echoMetadata(ctx: HandlerContext): void {
  const initial = ctx.requestHeader.get(ECHO_INITIAL_KEY);
  if (initial !== null) ctx.responseHeader.set(ECHO_INITIAL_KEY, initial);
  const trailing = ctx.requestHeader.get(ECHO_TRAILING_KEY);
  if (trailing !== null) ctx.responseTrailer.set(ECHO_TRAILING_KEY, trailing);
}

/**
 * "Compressed Request": a request with expect_compressed = true must have come compressed, else
 * INVALID_ARGUMENT. Behind the grpc-ws bridge the handler sees each message's flag
 * (`messageCompressionKey`); a plain Connect handler sees only the call's grpc-encoding, so there
 * this checks the call (what the interop probes need: they send such a request uncompressed).
 */
function checkCompressed(expect: { value: boolean } | undefined, ctx: HandlerContext): void {
  if (!expect?.value) return;
  const perMessage = ctx.values.get(messageCompressionKey);
  if (perMessage !== undefined) {
    if (!perMessage.lastRequestCompressed)
      throw new ConnectError("expected a compressed request message, got one without the flag", Code.InvalidArgument);
    return;
  }
  const encoding = ctx.requestHeader.get("grpc-encoding") ?? "identity";
  if (encoding === "identity")
    throw new ConnectError("expected a compressed request (grpc-encoding), got identity", Code.InvalidArgument);
}

/**
 * "Compressed Response": response_compressed (and each response parameter's `compressed`) says
 * whether the next response goes compressed. Only where the handler can choose per message (the
 * grpc-ws bridge, when the call negotiated an encoding); elsewhere the server's own rule applies.
 */
function compressNext(compressed: { value: boolean } | undefined, ctx: HandlerContext): void {
  const perMessage = ctx.values.get(messageCompressionKey);
  if (perMessage !== undefined && compressed !== undefined) perMessage.compressResponses = compressed.value;
}

/** Answers each request in turn; a request's response_status ends the call, so later requests are not processed (spec: Echo Status). */
async function* respondEach(
  requests: Iterable<StreamingOutputCallRequest> | AsyncIterable<StreamingOutputCallRequest>,
  ctx: HandlerContext,
): AsyncGenerator<OutputInit> {
  for await (const req of requests) {
    yield* respond(req, ctx);
    const err = statusError(req.responseStatus);
    if (err) throw err;
  }
}

/** One response per response_parameters entry; interval_us is a sleep before each, cut short by the signal. */
async function* respond(req: StreamingOutputCallRequest, ctx: HandlerContext): AsyncGenerator<OutputInit> {
  for (const p of req.responseParameters) {
    if (p.intervalUs > 0) await sleep(p.intervalUs / 1000, ctx.signal);
    compressNext(p.compressed, ctx);
    yield { payload: makePayload(req.responseType, p.size) };
  }
}

function watch(
  observer: TestServiceObserver | undefined,
  method: TestServiceMethodName,
  ctx: HandlerContext,
): () => void {
  observer?.onStart?.(method, ctx);
  const onAbort = observer?.onAbort;
  if (!onAbort) return () => undefined;
  if (ctx.signal.aborted) {
    onAbort.call(observer, method, ctx.signal.reason);
    return () => undefined;
  }
  const listener = (): void => onAbort.call(observer, method, ctx.signal.reason);
  ctx.signal.addEventListener("abort", listener, { once: true });
  // Stop listening once the handler is done: an abort after that is not the handler's.
  return () => ctx.signal.removeEventListener("abort", listener);
}

async function* observeStream<T>(
  observer: TestServiceObserver | undefined,
  method: TestServiceMethodName,
  ctx: HandlerContext,
  body: () => AsyncIterable<T>,
): AsyncGenerator<T> {
  const stop = watch(observer, method, ctx);
  let error: unknown;
  try {
    yield* body();
  } catch (e) {
    error = e;
    throw e;
  } finally {
    stop();
    observer?.onEnd?.(method, error);
  }
}

/** observeStream for a handler with one result. */
async function observeCall<T>(
  observer: TestServiceObserver | undefined,
  method: TestServiceMethodName,
  ctx: HandlerContext,
  body: () => Promise<T> | T,
): Promise<T> {
  const run = observeStream(observer, method, ctx, async function* () {
    yield await body();
  });
  // The first step runs the handler (and rejects with its error); the second finishes the run, so
  // onEnd has fired before the caller sees the result.
  const first = await run.next();
  await run.next();
  return first.value as T;
}

/** Builds a TestService implementation; pass an observer to see handler starts, aborts and ends. */
export function createTestServiceImpl(observer?: TestServiceObserver): TestServiceImpl {
  return {
    emptyCall(_req, ctx) {
      return observeCall(observer, "EmptyCall", ctx, () => {
        echoMetadata(ctx);
        return {};
      });
    },

    unaryCall(req, ctx) {
      return observeCall(observer, "UnaryCall", ctx, () => {
        echoMetadata(ctx);
        checkCompressed(req.expectCompressed, ctx);
        const err = statusError(req.responseStatus);
        if (err) throw err;
        compressNext(req.responseCompressed, ctx);
        return { payload: makePayload(req.responseType, req.responseSize) };
      });
    },

    streamingOutputCall(req, ctx) {
      return observeStream(observer, "StreamingOutputCall", ctx, async function* () {
        echoMetadata(ctx);
        yield* respondEach([req], ctx);
      });
    },

    streamingInputCall(requests, ctx) {
      return observeCall(observer, "StreamingInputCall", ctx, async () => {
        echoMetadata(ctx);
        let aggregatedPayloadSize = 0;
        for await (const req of abortable(requests, ctx.signal)) {
          checkCompressed(req.expectCompressed, ctx);
          aggregatedPayloadSize += req.payload?.body.length ?? 0;
        }
        return { aggregatedPayloadSize };
      });
    },

    fullDuplexCall(requests, ctx) {
      return observeStream(observer, "FullDuplexCall", ctx, async function* () {
        echoMetadata(ctx);
        yield* respondEach(abortable(requests, ctx.signal), ctx);
      });
    },

    halfDuplexCall(requests, ctx) {
      return observeStream(observer, "HalfDuplexCall", ctx, async function* () {
        echoMetadata(ctx);
        const all: StreamingOutputCallRequest[] = [];
        for await (const req of abortable(requests, ctx.signal)) all.push(req);
        yield* respondEach(all, ctx);
      });
    },
  };
}

/** The default instance, without observer. */
export const testServiceImpl: TestServiceImpl = createTestServiceImpl();

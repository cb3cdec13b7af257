import { create, isMessage, type DescMessage, type DescMethod } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type HandlerContext,
  type Interceptor,
  type StreamRequest,
  type StreamResponse,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import type { AnyMethodImpl } from "./router.js";
import { withFields } from "./handler-context.js";

type AnyFn = (req: UnaryRequest | StreamRequest) => Promise<UnaryResponse | StreamResponse>;

/**
 * Wraps a user function in `interceptors` (the first is outermost, as in Connect) and returns a
 * function with the same calling convention, so the in-process runner needs no second code path:
 * unary and client streaming return a promise of the response, server and bidi streaming an
 * AsyncIterable that is pulled only as fast as the runner sends (flow control is unchanged).
 * Request and response objects are built here only, so routes without interceptors pay nothing.
 */
export function intercept(
  method: DescMethod,
  impl: AnyMethodImpl,
  interceptors: readonly Interceptor[],
): AnyMethodImpl {
  // Like Connect, the chain is built per call: an interceptor's outer function runs once per call.
  switch (method.methodKind) {
    case "unary":
      return (input, ctx) => {
        const c = ctx as HandlerContext;
        const next = chain(
          async (req) => unaryResponse(method, c, await impl(req.message, handlerContext(c, req))),
          interceptors,
        );
        return invokeUnary(next, method, input, c);
      };
    case "server_streaming":
      return (input, ctx) => {
        const c = ctx as HandlerContext;
        const next = chain(
          async (req) =>
            streamResponse(
              method,
              c,
              impl(
                await single(req.message as AsyncIterable<unknown>),
                handlerContext(c, req),
              ) as AsyncIterable<unknown>,
            ),
          interceptors,
        );
        return invokeStream(next, method, oneMessage(input), c);
      };
    case "client_streaming":
      return (input, ctx) => {
        const c = ctx as HandlerContext;
        const next = chain(
          async (req) => streamResponse(method, c, oneMessage(await impl(req.message, handlerContext(c, req)))),
          interceptors,
        );
        return single(invokeStream(next, method, input as AsyncIterable<unknown>, c), "response");
      };
    case "bidi_streaming":
      return (input, ctx) => {
        const c = ctx as HandlerContext;
        const next = chain(
          async (req) => streamResponse(method, c, impl(req.message, handlerContext(c, req)) as AsyncIterable<unknown>),
          interceptors,
        );
        return invokeStream(next, method, input as AsyncIterable<unknown>, c);
      };
  }
}

function chain(fn: AnyFn, interceptors: readonly Interceptor[]): AnyFn {
  let next = fn;
  for (let i = interceptors.length - 1; i >= 0; i--) next = interceptors[i]!(next);
  return next;
}

async function invokeUnary(next: AnyFn, method: DescMethod, message: unknown, ctx: HandlerContext): Promise<unknown> {
  const res = await next({ ...requestCommon(method, ctx), stream: false, message } as UnaryRequest);
  copyHeaders(res.header, ctx.responseHeader);
  copyHeaders(res.trailer, ctx.responseTrailer);
  return res.message;
}

// Response headers are in place before the first message goes out, trailers once the stream is done.
async function* invokeStream(
  next: AnyFn,
  method: DescMethod,
  message: AsyncIterable<unknown>,
  ctx: HandlerContext,
): AsyncGenerator<unknown> {
  const res = await next({ ...requestCommon(method, ctx), stream: true, message } as StreamRequest);
  copyHeaders(res.header, ctx.responseHeader);
  if (res.stream) yield* res.message;
  else yield res.message;
  copyHeaders(res.trailer, ctx.responseTrailer);
}

function requestCommon(method: DescMethod, ctx: HandlerContext) {
  return {
    method,
    service: method.parent,
    requestMethod: ctx.requestMethod,
    url: ctx.url,
    signal: ctx.signal,
    header: ctx.requestHeader,
    contextValues: ctx.values,
  };
}

// What an interceptor passed to `next` (a replaced header, signal or context values) is what the handler sees.
function handlerContext(ctx: HandlerContext, req: UnaryRequest | StreamRequest): HandlerContext {
  return withFields(ctx, {
    service: req.service,
    requestHeader: req.header,
    signal: req.signal,
    values: req.contextValues,
  });
}

function unaryResponse(method: DescMethod, ctx: HandlerContext, message: unknown): UnaryResponse {
  return { ...responseCommon(method, ctx), stream: false, message: normalize(method.output, message) } as UnaryResponse;
}

function streamResponse(method: DescMethod, ctx: HandlerContext, messages: AsyncIterable<unknown>): StreamResponse {
  return {
    ...responseCommon(method, ctx),
    stream: true,
    message: normalizeAll(method.output, messages),
  } as StreamResponse;
}

// The handler's own response headers and trailers: an interceptor may set them or return others.
function responseCommon(method: DescMethod, ctx: HandlerContext) {
  return { method, service: method.parent, header: ctx.responseHeader, trailer: ctx.responseTrailer };
}

function normalize(schema: DescMessage, value: unknown): unknown {
  return isMessage(value, schema) ? value : create(schema, value as never);
}

async function* normalizeAll(schema: DescMessage, values: AsyncIterable<unknown>): AsyncGenerator<unknown> {
  for await (const value of values) yield normalize(schema, value);
}

async function* oneMessage(value: unknown): AsyncGenerator<unknown> {
  yield value;
}

// A streaming request or response an interceptor replaced must still hold exactly one message where the method takes one.
async function single(messages: AsyncIterable<unknown>, what = "request"): Promise<unknown> {
  const it = messages[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done)
    throw new ConnectError(`an interceptor left no ${what} message where the method takes exactly one`, Code.Internal);
  const second = await it.next();
  if (!second.done) {
    await it.return?.();
    throw new ConnectError(
      `an interceptor left more than one ${what} message where the method takes exactly one`,
      Code.Internal,
    );
  }
  return first.value;
}

function copyHeaders(from: Headers, to: Headers): void {
  if (from === to) return;
  for (const key of [...to.keys()]) to.delete(key);
  from.forEach((value, key) => to.append(key, value));
}

import {
  create,
  isMessage,
  type DescMessage,
  type DescMethod,
  type DescMethodStreaming,
  type DescMethodUnary,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import {
  createContextValues,
  type ContextValues,
  type Interceptor,
  type StreamRequest,
  type StreamResponse,
  type Transport,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import { methodPath } from "@grpc-ws/wire";
import { CLOSE_HANDSHAKE_MS } from "@grpc-ws/wire/internal";
import { NEVER_ABORTED, type CallContext } from "./call.js";
import { Channel } from "./channel.js";
import { resolveTransportOptions, type ConnectionState, type WebSocketTransportOptions } from "./options.js";
import { defaultFlushScheduler } from "./schedule.js";
import { StreamCall } from "./stream-call.js";
import { createTelemetryInterceptor } from "./telemetry.js";
import { UnaryCall } from "./unary-call.js";

/** A Connect `Transport` that carries every call over one multiplexed WebSocket. */
export interface WebSocketTransport extends Transport {
  /** Where the connection stands; see `ConnectionState`. */
  readonly state: ConnectionState;
  /** Calls `listener` on every state change; returns a function that unsubscribes. */
  onStateChange(listener: (state: ConnectionState) => void): () => void;
  /**
   * Opens the connection now instead of on the first call. Resolves when it is open; rejects
   * (`Unavailable`) when the attempt fails. During a backoff it waits for the next attempt.
   */
  connect(): Promise<void>;
  /**
   * Closes the connection: calls in flight fail with `Unavailable` ("transport closed"), and so
   * does every later call. Resolves when the socket is closed.
   */
  close(): Promise<void>;
}

/** Creates a transport for `createClient` that speaks grpc-ws over one WebSocket to `options.url`. */
export function createWebSocketTransport(options: WebSocketTransportOptions): WebSocketTransport {
  const o = resolveTransportOptions(options);
  const channel = new Channel(
    {
      url: o.url,
      webSocket: o.webSocket,
      token: o.token,
      headers: o.headers,
      settings: o.settings,
      keepalive: o.keepalive,
      connectTimeoutMs: o.connectTimeoutMs,
      closeHandshakeMs: CLOSE_HANDSHAKE_MS,
      schedule: defaultFlushScheduler(),
      trace: o.trace,
    },
    o.reconnect,
    o.trace,
  );
  const ctx: CallContext = {
    channel,
    readOptions: options.readBinaryOptions,
    writeOptions: options.writeBinaryOptions,
    compression: o.compression,
  };
  // Telemetry is the outermost interceptor: its span covers the others and the call.
  const all = [
    ...(options.telemetry ? [createTelemetryInterceptor(o.url, options.telemetry)] : []),
    ...(options.interceptors ?? []),
  ];
  const interceptors = all.length > 0 ? all : undefined;
  const baseUrl = o.url.replace(/\/+$/, "");

  /** The parts of an interceptor's request that unary and streaming calls share. */
  function requestCommon(
    method: DescMethod,
    signal: AbortSignal | undefined,
    headers: Headers,
    contextValues: ContextValues | undefined,
  ): Omit<UnaryRequest, "stream" | "method" | "message"> {
    return {
      service: method.parent,
      requestMethod: "POST",
      url: baseUrl + methodPath(method.parent.typeName, method.name),
      signal: signal ?? NEVER_ABORTED,
      header: headers,
      contextValues: contextValues ?? createContextValues(),
    };
  }

  function unary<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    header: HeadersInit | undefined,
    input: MessageInitShape<I>,
    contextValues?: ContextValues,
  ): Promise<UnaryResponse<I, O>> {
    // No interceptor and no header: no Headers object to build and read back per call.
    if (!interceptors && header === undefined)
      return new UnaryCall(ctx, method, signal, timeoutMs, undefined, input).run();
    const headers = new Headers(header);
    if (!interceptors) return new UnaryCall(ctx, method, signal, timeoutMs, headers, input).run();
    const next = applyInterceptors(
      (req: UnaryRequest<I, O>) => new UnaryCall(ctx, method, req.signal, timeoutMs, req.header, req.message).run(),
      interceptors,
    ) as (req: UnaryRequest<I, O>) => Promise<UnaryResponse<I, O>>;
    return next({
      ...requestCommon(method, signal, headers, contextValues),
      stream: false,
      method,
      message: isMessage(input, method.input) ? input : create(method.input, input),
    });
  }

  function stream<I extends DescMessage, O extends DescMessage>(
    method: DescMethodStreaming<I, O>,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    header: HeadersInit | undefined,
    input: AsyncIterable<MessageInitShape<I>>,
    contextValues?: ContextValues,
  ): Promise<StreamResponse<I, O>> {
    if (!interceptors && header === undefined)
      return new StreamCall(ctx, method, signal, timeoutMs, undefined, input).run();
    const headers = new Headers(header);
    if (!interceptors) return new StreamCall(ctx, method, signal, timeoutMs, headers, input).run();
    const next = applyInterceptors(
      (req: StreamRequest<I, O>) => new StreamCall(ctx, method, req.signal, timeoutMs, req.header, req.message).run(),
      interceptors,
    ) as (req: StreamRequest<I, O>) => Promise<StreamResponse<I, O>>;
    const response = next({
      ...requestCommon(method, signal, headers, contextValues),
      stream: true,
      method,
      message: normalizeIterable(method.input, input),
    });
    // An interceptor's own promise: handled for the same reason as StreamCall.run()'s.
    response.catch(noop);
    return response;
  }

  return {
    unary,
    stream,
    get state() {
      return channel.state;
    },
    onStateChange: (listener) => channel.onStateChange(listener),
    connect: () => channel.connect(),
    close: () => channel.close(),
  };
}

const noop = (): void => {};

// Connect's rule: the first interceptor in the array is the outermost.
function applyInterceptors<T>(next: T, interceptors: Interceptor[]): T {
  let fn = next as Parameters<Interceptor>[0];
  for (let i = interceptors.length - 1; i >= 0; i--) fn = interceptors[i]!(fn);
  return fn as T;
}

// Interceptors see complete messages, as with Connect's own transports.
function normalizeIterable<I extends DescMessage>(
  schema: I,
  input: AsyncIterable<MessageInitShape<I>>,
): AsyncIterable<MessageShape<I>> {
  return {
    [Symbol.asyncIterator]() {
      const it = input[Symbol.asyncIterator]();
      const map = (result: IteratorResult<MessageInitShape<I>>): IteratorResult<MessageShape<I>> =>
        result.done
          ? result
          : { done: false, value: isMessage(result.value, schema) ? result.value : create(schema, result.value) };
      return {
        next: () => it.next().then(map),
        return: it.return ? (value?: unknown) => it.return!(value).then(map) : undefined,
        throw: it.throw ? (error?: unknown) => it.throw!(error).then(map) : undefined,
      } as AsyncIterator<MessageShape<I>>;
    },
  };
}

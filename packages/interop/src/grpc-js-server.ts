// A real @grpc/grpc-js server with the interop TestService: the independent reference
// peer for gateway tests and for validating the interop cases. Node only.
import {
  Metadata,
  Server,
  ServerCredentials,
  status as GrpcStatus,
  type MethodDefinition,
  type ServerDuplexStream,
  type ServerErrorResponse,
  type ServerReadableStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServerOptions,
  type ServiceDefinition,
  type UntypedServiceImplementation,
  type sendUnaryData,
  type Deadline,
  type StatusObject,
} from "@grpc/grpc-js";
import { create, fromBinary, toBinary, type DescService, type Message } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { TestService } from "../../../gen/grpc/testing/test_pb.js";
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
} from "../../../gen/grpc/testing/messages_pb.js";
import { EmptySchema, type Empty } from "../../../gen/grpc/testing/empty_pb.js";
import { makePayload, statusError, type TestServiceMethodName } from "./test-service.js";
import { ECHO_INITIAL_KEY, ECHO_TRAILING_KEY, abortable, sleep } from "./util.js";

// grpc-js does not export its ServerSurfaceCall/ServerStatusResponse types from the entry point;
// these are the parts of them used here, which every server call object has.
interface ServerSurfaceCall {
  cancelled: boolean;
  readonly metadata: Metadata;
  sendMetadata(responseMetadata: Metadata): void;
  getDeadline(): Deadline;
  on(event: string, listener: () => void): unknown;
  once(event: string, listener: () => void): unknown;
  off(event: string, listener: () => void): unknown;
}
type ServerStatusResponse = Partial<StatusObject>;
/** A call that writes StreamingOutputCallResponses: server streaming or bidi. */
type ResponseStream =
  | ServerWritableStream<StreamingOutputCallRequest, StreamingOutputCallResponse>
  | ServerDuplexStream<StreamingOutputCallRequest, StreamingOutputCallResponse>;

/**
 * A grpc-js ServiceDefinition for a protobuf-es service: path `/<package.Service>/<Method>`,
 * stream flags from the method kind, protobuf-es binary (de)serialization. Keys are the
 * proto method names ("UnaryCall"). `omit` leaves methods out, so the server answers
 * UNIMPLEMENTED for them. Also usable with grpc-js `makeGenericClientConstructor`.
 */
export function createGrpcJsServiceDefinition(
  service: DescService,
  options?: { omit?: readonly string[] },
): ServiceDefinition {
  const def: Record<string, MethodDefinition<Message, Message>> = {};
  for (const m of service.methods) {
    if (options?.omit?.includes(m.name)) continue;
    def[m.name] = {
      path: `/${service.typeName}/${m.name}`,
      requestStream: m.methodKind === "client_streaming" || m.methodKind === "bidi_streaming",
      responseStream: m.methodKind === "server_streaming" || m.methodKind === "bidi_streaming",
      requestSerialize: (value: Message) => Buffer.from(toBinary(m.input, value)),
      requestDeserialize: (bytes: Buffer) => fromBinary(m.input, bytes),
      responseSerialize: (value: Message) => Buffer.from(toBinary(m.output, value)),
      responseDeserialize: (bytes: Buffer) => fromBinary(m.output, bytes),
      originalName: m.localName,
    };
  }
  return def;
}

/** One call as the grpc-js server saw it. */
export interface GrpcJsCallRecord {
  method: TestServiceMethodName;
  /** Request metadata as received (binary values are Buffers). */
  metadata: Metadata;
  /** Absolute deadline in ms since epoch, Infinity when the client sent none. */
  deadline: number;
  startedAt: number;
  /** Set when the client reset the call (RST_STREAM / connection gone) before it ended and before its deadline. */
  cancelledAt?: number;
  /** Set when the call's deadline passed while the handler was still running. At most one of the two is set. */
  deadlineExceededAt?: number;
}

export interface GrpcJsTestServerEvents {
  /** Method names in call start order. */
  started: TestServiceMethodName[];
  /** Method names of calls the client cancelled, in order. */
  cancelled: TestServiceMethodName[];
  /** Method names of calls whose deadline expired on the server, in order. */
  deadlineExceeded: TestServiceMethodName[];
  /** Both of the above, in order: calls whose handler was stopped early. */
  aborted: TestServiceMethodName[];
  /** Per-call details, in start order. */
  calls: GrpcJsCallRecord[];
}

export interface GrpcJsTestServer {
  port: number;
  /** "127.0.0.1:PORT" (host:port, as grpc-js clients take it), or the `address` option as given. */
  address: string;
  /**
   * "http://127.0.0.1:PORT" ("https://..." with secure credentials), for HTTP/2 gRPC clients such
   * as connect-node's createGrpcTransport. With a `unix:` address: "http://localhost" (or https).
   */
  baseUrl: string;
  events: GrpcJsTestServerEvents;
  /**
   * Resolves when a cancellation of `method` has been recorded that no earlier
   * waitForCancel call has claimed (also if it happened before this call).
   * Rejects after `timeoutMs` (default 1000).
   */
  waitForCancel(method: TestServiceMethodName, timeoutMs?: number): Promise<GrpcJsCallRecord>;
  /** Same as waitForCancel, for server-side deadline expiry. */
  waitForDeadline(method: TestServiceMethodName, timeoutMs?: number): Promise<GrpcJsCallRecord>;
  /**
   * Same, for either a cancel or a deadline. With very short timeouts the client's reset and
   * the server's own deadline race, so deadline tests should usually wait for this one.
   */
  waitForAbort(method: TestServiceMethodName, timeoutMs?: number): Promise<GrpcJsCallRecord>;
  /** Forgets all recorded events and claims; later events of calls started before this are ignored. */
  clearEvents(): void;
  /** tryShutdown, then forceShutdown if calls are still open after a short grace period. */
  close(): Promise<void>;
}

export interface GrpcJsTestServerOptions {
  /** Default 0 (an ephemeral port). */
  port?: number;
  /** Default "127.0.0.1". */
  host?: string;
  /**
   * A grpc-js bind address used instead of host and port, e.g. "unix:///tmp/dir/s.sock"
   * (the caller creates and removes the directory).
   */
  address?: string;
  /** Default insecure (cleartext h2c). E.g. `ServerCredentials.createSsl(...)` for TLS or mutual TLS. */
  credentials?: ServerCredentials;
  /** grpc-js server options ("grpc.max_connection_age_ms", ...). */
  serverOptions?: ServerOptions;
  /** Grace period for tryShutdown before forceShutdown, default 500 ms. */
  shutdownGraceMs?: number;
  /**
   * How long a client half-close is held back before the handler sees it, so that a reset
   * following right behind it counts as a cancel (see readMessages). Default 2 ms; 0 defers
   * by one macrotask only, which still catches resets that arrive in the same socket read.
   */
  halfCloseGraceMs?: number;
}

type EventKind = "cancelled" | "deadlineExceeded" | "aborted";
const EVENT_KINDS = ["cancelled", "deadlineExceeded", "aborted"] as const;

/** Starts a grpc-js server implementing grpc.testing.TestService (without UnimplementedMethod). */
export async function startGrpcJsTestServer(options?: GrpcJsTestServerOptions): Promise<GrpcJsTestServer> {
  const host = options?.host ?? "127.0.0.1";
  const halfCloseGraceMs = options?.halfCloseGraceMs ?? 2;
  const events: GrpcJsTestServerEvents = { started: [], cancelled: [], deadlineExceeded: [], aborted: [], calls: [] };
  const records: Record<EventKind, GrpcJsCallRecord[]> = { cancelled: [], deadlineExceeded: [], aborted: [] };
  const claimed: Record<EventKind, Set<GrpcJsCallRecord>> = {
    cancelled: new Set(),
    deadlineExceeded: new Set(),
    aborted: new Set(),
  };
  const waiters = new Set<() => void>();
  const notify = (): void => {
    for (const w of [...waiters]) w();
  };

  // Bumped by clearEvents, so late events of calls started before the clear are not listed.
  let generation = 0;
  const generationOf = new WeakMap<GrpcJsCallRecord, number>();

  function record(kind: "cancelled" | "deadlineExceeded", rec: GrpcJsCallRecord): void {
    if (generationOf.get(rec) !== generation) return;
    for (const k of [kind, "aborted"] as const) {
      records[k].push(rec);
      events[k].push(rec.method);
    }
    notify();
  }

  function waitFor(kind: EventKind, method: TestServiceMethodName, timeoutMs = 1000): Promise<GrpcJsCallRecord> {
    return new Promise<GrpcJsCallRecord>((resolve, reject) => {
      const check = (): boolean => {
        const rec = records[kind].find((r) => r.method === method && !claimed[kind].has(r));
        if (!rec) return false;
        claimed[kind].add(rec);
        cleanup();
        resolve(rec);
        return true;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(
            `grpc-js test server: no ${kind} event for ${method} within ${timeoutMs} ms ` +
              `(${kind}: [${events[kind].join(", ")}], started: [${events.started.join(", ")}])`,
          ),
        );
      }, timeoutMs);
      const waiter = (): void => void check();
      const cleanup = (): void => {
        clearTimeout(timer);
        waiters.delete(waiter);
      };
      if (!check()) waiters.add(waiter);
    });
  }

  /**
   * Per-call bookkeeping: records the start, turns client cancel and deadline expiry
   * into an AbortSignal so sleeping/waiting handlers stop, and records both events.
   */
  function track(method: TestServiceMethodName, call: ServerSurfaceCall): { signal: AbortSignal; done(): void } {
    const ac = new AbortController();
    const d = call.getDeadline();
    const deadline = d instanceof Date ? d.getTime() : d;
    const rec: GrpcJsCallRecord = { method, metadata: call.metadata.clone(), deadline, startedAt: Date.now() };
    generationOf.set(rec, generation);
    events.started.push(method);
    events.calls.push(rec);
    let finished = false;
    const onDeadline = (): void => {
      if (finished || rec.deadlineExceededAt !== undefined || rec.cancelledAt !== undefined) return;
      rec.deadlineExceededAt = Date.now();
      record("deadlineExceeded", rec);
      ac.abort(new ConnectError("deadline exceeded", Code.DeadlineExceeded));
    };
    // grpc-js emits 'cancelled' for every call once its stream closes, also after a normal
    // status; only one that comes while our handler still runs is a real cancel.
    const onCancelled = (): void => {
      if (finished || rec.deadlineExceededAt !== undefined || rec.cancelledAt !== undefined) return;
      // grpc-js' own deadline timer also ends in 'cancelled'; count that as a deadline.
      if (Date.now() >= deadline) {
        onDeadline();
        return;
      }
      rec.cancelledAt = Date.now();
      record("cancelled", rec);
      ac.abort(new ConnectError("cancelled by client", Code.Canceled));
    };
    call.on("cancelled", onCancelled);
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (Number.isFinite(deadline)) {
      timer = setTimeout(onDeadline, Math.max(0, deadline - Date.now()));
      timer.unref?.();
    }
    // The event can fire before the handler runs (client gone already).
    if (call.cancelled) onCancelled();
    return {
      signal: ac.signal,
      done() {
        finished = true;
        if (timer) clearTimeout(timer);
        call.off("cancelled", onCancelled);
      },
    };
  }

  /**
   * Runs a handler with a response stream: `body` writes the responses, then the call ends with
   * the echoed trailers, or with the status of what `body` threw.
   */
  function serveStream(
    method: TestServiceMethodName,
    call: ResponseStream,
    body: (signal: AbortSignal) => Promise<void>,
  ): void {
    const t = track(method, call);
    const trailer = echoMetadata(call);
    void (async () => {
      try {
        await body(t.signal);
        call.end(trailer);
      } catch (e) {
        // After a cancel/deadline grpc-js has already closed the call; nothing to send.
        if (!t.signal.aborted) call.emit("error", toGrpcStatus(e, trailer));
      } finally {
        t.done();
      }
    })();
  }

  const handlers = {
    EmptyCall(call: ServerUnaryCall<Empty, Empty>, callback: sendUnaryData<Empty>) {
      const t = track("EmptyCall", call);
      const trailer = echoMetadata(call);
      t.done();
      callback(null, create(EmptySchema), trailer);
    },

    UnaryCall(call: ServerUnaryCall<SimpleRequest, SimpleResponse>, callback: sendUnaryData<SimpleResponse>) {
      const t = track("UnaryCall", call);
      const trailer = echoMetadata(call);
      try {
        const err = statusError(call.request.responseStatus);
        if (err) throw err;
        const res = create(SimpleResponseSchema, {
          payload: makePayload(call.request.responseType, call.request.responseSize),
        });
        callback(null, res, trailer);
      } catch (e) {
        callback(toGrpcStatus(e, trailer));
      } finally {
        t.done();
      }
    },

    StreamingOutputCall(call: ServerWritableStream<StreamingOutputCallRequest, StreamingOutputCallResponse>) {
      serveStream("StreamingOutputCall", call, (signal) => respondEach(call, [call.request], signal));
    },

    StreamingInputCall(
      call: ServerReadableStream<StreamingInputCallRequest, StreamingInputCallResponse>,
      callback: sendUnaryData<StreamingInputCallResponse>,
    ) {
      const t = track("StreamingInputCall", call);
      const trailer = echoMetadata(call);
      void (async () => {
        try {
          let aggregatedPayloadSize = 0;
          for await (const req of abortable(readMessages(call, halfCloseGraceMs), t.signal)) {
            aggregatedPayloadSize += req.payload?.body.length ?? 0;
          }
          callback(null, create(StreamingInputCallResponseSchema, { aggregatedPayloadSize }), trailer);
        } catch (e) {
          if (!t.signal.aborted) callback(toGrpcStatus(e, trailer));
        } finally {
          t.done();
        }
      })();
    },

    FullDuplexCall(call: ServerDuplexStream<StreamingOutputCallRequest, StreamingOutputCallResponse>) {
      serveStream("FullDuplexCall", call, (signal) =>
        respondEach(call, abortable(readMessages(call, halfCloseGraceMs), signal), signal),
      );
    },

    HalfDuplexCall(call: ServerDuplexStream<StreamingOutputCallRequest, StreamingOutputCallResponse>) {
      serveStream("HalfDuplexCall", call, async (signal) => {
        const all: StreamingOutputCallRequest[] = [];
        for await (const req of abortable(readMessages(call, halfCloseGraceMs), signal)) all.push(req);
        await respondEach(call, all, signal);
      });
    },
  };

  const server = new Server(options?.serverOptions);
  server.addService(
    createGrpcJsServiceDefinition(TestService, { omit: ["UnimplementedMethod"] }),
    handlers as unknown as UntypedServiceImplementation,
  );
  const credentials = options?.credentials ?? ServerCredentials.createInsecure();
  const hostForUrl = host.includes(":") ? `[${host}]` : host;
  const bindAddress = options?.address ?? `${hostForUrl}:${options?.port ?? 0}`;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(bindAddress, credentials, (err, p) => (err ? reject(err) : resolve(p)));
  });
  const scheme = credentials._isSecure() ? "https" : "http";
  const isUnix = bindAddress.startsWith("unix:");
  const grace = options?.shutdownGraceMs ?? 500;
  let closed: Promise<void> | undefined;

  return {
    port,
    address: options?.address ?? `${hostForUrl}:${port}`,
    baseUrl: isUnix ? `${scheme}://localhost` : `${scheme}://${hostForUrl}:${port}`,
    events,
    waitForCancel: (method, timeoutMs) => waitFor("cancelled", method, timeoutMs),
    waitForDeadline: (method, timeoutMs) => waitFor("deadlineExceeded", method, timeoutMs),
    waitForAbort: (method, timeoutMs) => waitFor("aborted", method, timeoutMs),
    clearEvents() {
      generation++;
      events.started.length = 0;
      events.calls.length = 0;
      for (const k of EVENT_KINDS) {
        events[k].length = 0;
        records[k].length = 0;
        claimed[k].clear();
      }
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, grace);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      return closed;
    },
  };
}

/** "Echo Metadata": initial value goes out as response headers now, the -bin value (a Buffer) is returned for the trailers. */
function echoMetadata(call: ServerSurfaceCall): Metadata {
  const initial = call.metadata.get(ECHO_INITIAL_KEY);
  if (initial.length > 0) {
    const md = new Metadata();
    for (const v of initial) md.add(ECHO_INITIAL_KEY, v);
    call.sendMetadata(md);
  }
  const trailer = new Metadata();
  for (const v of call.metadata.get(ECHO_TRAILING_KEY)) trailer.add(ECHO_TRAILING_KEY, v);
  return trailer;
}

function toGrpcStatus(e: unknown, trailer: Metadata): ServerStatusResponse | ServerErrorResponse {
  const err = ConnectError.from(e);
  // Connect's Code numbers are the gRPC status codes.
  return { code: err.code as number as GrpcStatus, details: err.rawMessage, metadata: trailer };
}

/** Answers each request in turn; a request's response_status ends the call, so later requests are not processed (spec: Echo Status). */
async function respondEach(
  call: ResponseStream,
  requests: Iterable<StreamingOutputCallRequest> | AsyncIterable<StreamingOutputCallRequest>,
  signal: AbortSignal,
): Promise<void> {
  for await (const req of requests) {
    await respond(call, req, signal);
    const err = statusError(req.responseStatus);
    if (err) throw err;
  }
}

/** Writes one response per response_parameters entry, honouring interval_us and write backpressure. */
async function respond(call: ResponseStream, req: StreamingOutputCallRequest, signal: AbortSignal): Promise<void> {
  for (const p of req.responseParameters) {
    if (p.intervalUs > 0) await sleep(p.intervalUs / 1000, signal);
    if (signal.aborted) return;
    const res = create(StreamingOutputCallResponseSchema, { payload: makePayload(req.responseType, p.size) });
    if (!call.write(res)) await drained(call, signal);
  }
}

function drained(call: ServerSurfaceCall, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      call.off("drain", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    call.once("drain", done);
    signal.addEventListener("abort", done, { once: true });
  });
}

type Readableish<T> = ServerSurfaceCall & {
  pause(): unknown;
  resume(): unknown;
  on(event: "data", listener: (m: T) => void): unknown;
  on(event: "error", listener: (e: unknown) => void): unknown;
};

/**
 * The incoming messages of a grpc-js call as an AsyncIterable, without the stream's own
 * async iterator: that one destroys the stream on early exit, and a destroyed call can
 * no longer send its status. Pauses the stream while a few messages are queued.
 */
function readMessages<T>(
  call: ServerReadableStream<T, unknown> | ServerDuplexStream<T, unknown>,
  halfCloseGraceMs: number,
): AsyncIterable<T> {
  const stream = call as unknown as Readableish<T>;
  const queue: T[] = [];
  let ended = false;
  let error: unknown;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  stream.on("data", (m: T) => {
    queue.push(m);
    if (queue.length >= 16) stream.pause();
    notify();
  });
  stream.on("end", () => {
    // Some clients (connect-node among them) half-close right before they reset a cancelled
    // or timed-out stream, and grpc-js reports the reset as 'cancelled' only ticks later.
    // Deferring the end a little lets such a cancel abort the handler (and be recorded)
    // instead of reading as a clean half-close.
    const end = (): void => {
      ended = true;
      notify();
    };
    if (halfCloseGraceMs > 0) setTimeout(end, halfCloseGraceMs);
    else setImmediate(end);
  });
  stream.on("error", (e: unknown) => {
    error ??= e;
    notify();
  });
  return {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        if (queue.length > 0) {
          const m = queue.shift() as T;
          if (queue.length === 0) stream.resume();
          yield m;
          continue;
        }
        if (error !== undefined) throw error;
        if (ended) return;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
  };
}

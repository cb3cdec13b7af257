// The client side of every peer, behind one interface, so each scenario runs the same loop
// against each. Payloads follow service.ts's conventions.
import { create } from "@bufbuild/protobuf";
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import {
  credentials,
  makeGenericClientConstructor,
  status,
  type ClientDuplexStream,
  type ClientReadableStream,
  type ClientWritableStream,
  type ServiceError,
} from "@grpc/grpc-js";
import { createWebSocketTransport } from "@grpc-ws/client";
// The files, not the package entry: the entry also loads playwright-core (slow to start).
import { createGrpcJsServiceDefinition } from "../packages/interop/src/grpc-js-server.js";
import { pushable } from "../packages/interop/src/util.js";
import {
  SimpleRequestSchema,
  StreamingInputCallRequestSchema,
  StreamingOutputCallRequestSchema,
  type SimpleRequest,
  type SimpleResponse,
  type StreamingInputCallRequest,
  type StreamingInputCallResponse,
  type StreamingOutputCallRequest,
  type StreamingOutputCallResponse,
} from "../gen/grpc/testing/messages_pb.js";
import { TestService } from "../gen/grpc/testing/test_pb.js";
import { OP, RawWsClient } from "./raw-ws.js";

export type PeerKind = "ws" | "ws-corked" | "grpc-js" | "connect" | "grpc-ws" | "gateway";

/** A bidi call driven one message at a time. */
export interface PingPong {
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface Peer {
  /** 100-byte request, 100-byte response. */
  unary(): Promise<void>;
  /**
   * One server stream of `count` messages of `size` bytes; resolves with the messages received.
   * At `deadline` (performance.now()) the call is cancelled and what arrived until then counts.
   */
  serverStream(size: number, count: number, deadline: number): Promise<number>;
  /** One client stream of up to `count` messages of `size` bytes, none sent after `deadline`; resolves with the count the server confirmed. */
  clientStream(size: number, count: number, deadline: number): Promise<number>;
  pingPong(): Promise<PingPong>;
  /** Opens `n` bidi calls that send nothing; `close` cancels them. */
  idleStreams(n: number): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export const UNARY_SIZE = 100;
const unaryRequest = create(SimpleRequestSchema, {
  responseSize: UNARY_SIZE,
  payload: { body: new Uint8Array(UNARY_SIZE) },
});
const streamRequest = (size: number, count: number): StreamingOutputCallRequest =>
  create(StreamingOutputCallRequestSchema, { responseParameters: [{ size }, { size: count }] });
const pingRequest = create(StreamingOutputCallRequestSchema, {
  responseParameters: [{ size: UNARY_SIZE }],
  payload: { body: new Uint8Array(UNARY_SIZE) },
});
const pushRequest = (size: number): StreamingInputCallRequest =>
  create(StreamingInputCallRequestSchema, { payload: { body: new Uint8Array(size) } });

/** Makes the client of one peer, talking to the server at `target`. */
export async function connectPeer(kind: PeerKind, target: string): Promise<Peer> {
  switch (kind) {
    case "ws":
    case "ws-corked":
      return rawWsPeer(await RawWsClient.connect(target), kind === "ws-corked");
    case "grpc-js":
      return grpcJsPeer(target);
    case "connect":
      return connectPeerOf(createGrpcTransport({ baseUrl: target }), async () => undefined);
    case "grpc-ws":
    case "gateway": {
      const transport = createWebSocketTransport({ url: target });
      return connectPeerOf(transport, () => transport.close());
    }
  }
}

/** Opens `n` connections of this peer kind, each proven open by one unary call. */
export async function idleConnections(kind: PeerKind, target: string, n: number): Promise<() => Promise<void>> {
  const peers: Peer[] = [];
  for (let i = 0; i < n; i++) {
    const p = await connectPeer(kind, target);
    peers.push(p);
    await p.unary();
  }
  return async () => {
    await Promise.all(peers.map((p) => p.close()));
  };
}

function rawWsPeer(c: RawWsClient, cork: boolean): Peer {
  const echo = Buffer.alloc(UNARY_SIZE);
  echo[0] = OP.ECHO;
  const unsupported = (): never => {
    throw new Error("raw ws has no streams");
  };
  return {
    unary: async () => void (await c.echo(echo)),
    serverStream: (size, count, deadline) => c.stream(count, size, cork, deadline),
    clientStream: (size, count, deadline) => c.push(count, size, deadline),
    pingPong: async () => ({ ping: async () => void (await c.echo(echo)), close: async () => undefined }),
    idleStreams: async () => unsupported(),
    close: () => c.close(),
  };
}

function connectPeerOf(transport: Transport, close: () => Promise<void>): Peer {
  const client: Client<typeof TestService> = createClient(TestService, transport);
  return {
    unary: async () => void (await client.unaryCall(unaryRequest)),
    async serverStream(size, count, deadline) {
      let n = 0;
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(), Math.max(0, deadline - performance.now()));
      try {
        for await (const _ of client.streamingOutputCall(streamRequest(size, count), { signal: ac.signal })) n++;
      } catch (e) {
        if (!ac.signal.aborted) throw e;
      } finally {
        clearTimeout(timer);
      }
      return n;
    },
    async clientStream(size, count, deadline) {
      const m = pushRequest(size);
      async function* requests() {
        for (let i = 0; i < count; i++) {
          if ((i & 255) === 255 && performance.now() > deadline) return;
          yield m;
        }
      }
      const res = await client.streamingInputCall(requests());
      return res.aggregatedPayloadSize / size;
    },
    async pingPong() {
      const requests = pushable<StreamingOutputCallRequest>();
      const responses = client.fullDuplexCall(requests)[Symbol.asyncIterator]();
      return {
        async ping() {
          requests.push(pingRequest);
          const r = await responses.next();
          if (r.done) throw new Error("bidi call ended early");
        },
        async close() {
          requests.end();
          while (!(await responses.next()).done);
        },
      };
    },
    async idleStreams(n) {
      const aborts: AbortController[] = [];
      const calls: Array<Promise<void>> = [];
      for (let i = 0; i < n; i++) {
        // One controller per call: a signal shared by thousands of calls warns about listeners.
        const ac = new AbortController();
        aborts.push(ac);
        const requests = pushable<StreamingOutputCallRequest>();
        const it = client.fullDuplexCall(requests, { signal: ac.signal })[Symbol.asyncIterator]();
        // Starts the call (Connect starts it on the first read); it stays open until the abort.
        calls.push(
          it.next().then(
            () => requests.end(),
            () => requests.end(),
          ),
        );
      }
      return async () => {
        for (const ac of aborts) ac.abort();
        await Promise.all(calls);
      };
    },
    close,
  };
}

interface GrpcJsTestClient {
  UnaryCall(req: SimpleRequest, cb: (err: ServiceError | null, res: SimpleResponse) => void): void;
  StreamingOutputCall(req: StreamingOutputCallRequest): ClientReadableStream<StreamingOutputCallResponse>;
  StreamingInputCall(
    cb: (err: ServiceError | null, res: StreamingInputCallResponse) => void,
  ): ClientWritableStream<StreamingInputCallRequest>;
  FullDuplexCall(): ClientDuplexStream<StreamingOutputCallRequest, StreamingOutputCallResponse>;
  close(): void;
}
const GrpcJsClient = makeGenericClientConstructor(createGrpcJsServiceDefinition(TestService), "TestService");

function grpcJsPeer(target: string): Peer {
  // Its own subchannel pool: every peer is its own connection (the idle-connection scenario).
  const client = new GrpcJsClient(target.replace(/^http:\/\//, ""), credentials.createInsecure(), {
    "grpc.use_local_subchannel_pool": 1,
  }) as unknown as GrpcJsTestClient;
  return {
    unary: () =>
      new Promise<void>((resolve, reject) => client.UnaryCall(unaryRequest, (e) => (e ? reject(e) : resolve()))),
    serverStream: (size, count, deadline) =>
      new Promise<number>((resolve, reject) => {
        let n = 0;
        const call = client.StreamingOutputCall(streamRequest(size, count));
        const timer = setTimeout(() => call.cancel(), Math.max(0, deadline - performance.now()));
        call.on("data", () => n++);
        call.on("error", (e: ServiceError) => {
          clearTimeout(timer);
          if (e.code === status.CANCELLED) resolve(n);
          else reject(e);
        });
        call.on("end", () => {
          clearTimeout(timer);
          resolve(n);
        });
      }),
    clientStream: (size, count, deadline) =>
      new Promise<number>((resolve, reject) => {
        const call = client.StreamingInputCall((e, res) => (e ? reject(e) : resolve(res.aggregatedPayloadSize / size)));
        const m = pushRequest(size);
        let i = 0;
        const pump = (): void => {
          while (i < count) {
            if ((i & 255) === 255 && performance.now() > deadline) break;
            i++;
            if (!call.write(m)) return void call.once("drain", pump);
          }
          call.end();
        };
        pump();
      }),
    async pingPong() {
      const call = client.FullDuplexCall();
      let waiter: { resolve: () => void; reject: (e: Error) => void } | undefined;
      call.on("data", () => waiter?.resolve());
      call.on("error", (e: Error) => waiter?.reject(e));
      return {
        ping: () =>
          new Promise<void>((resolve, reject) => {
            waiter = { resolve, reject };
            call.write(pingRequest);
          }),
        close: () =>
          new Promise<void>((resolve) => {
            call.on("end", resolve);
            call.on("error", () => resolve());
            call.end();
          }),
      };
    },
    async idleStreams(n) {
      const calls: Array<ClientDuplexStream<StreamingOutputCallRequest, StreamingOutputCallResponse>> = [];
      for (let i = 0; i < n; i++) {
        const call = client.FullDuplexCall();
        call.on("error", () => undefined);
        calls.push(call);
      }
      return async () => {
        for (const c of calls) c.cancel();
      };
    },
    close: async () => client.close(),
  };
}

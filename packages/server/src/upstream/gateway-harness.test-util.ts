// The setup the gateway specs share: a bridge on loopback with a client transport to it, and a
// suite-scoped grpc-js TestService upstream behind such a bridge.
import { createWebSocketTransport, type WebSocketTransport } from "@grpc-ws/client";
import { startGrpcJsTestServer, type GrpcJsTestServer } from "@grpc-ws/interop";
import { afterAll, beforeAll } from "vitest";
import { createWebSocketBridge, type WebSocketBridge, type WebSocketBridgeOptions } from "../index.js";

export interface Closable {
  close(): Promise<unknown>;
}

export interface Gateway extends Closable {
  readonly bridge: WebSocketBridge;
  readonly transport: WebSocketTransport;
}

/** A bridge listening on a free port and a transport to it; `close()` closes the transport, then the bridge. */
export async function startGateway(options: WebSocketBridgeOptions): Promise<Gateway> {
  const bridge = createWebSocketBridge(options);
  const closeBridge = () => bridge.close({ drainTimeoutMs: 100 });
  let url: string;
  try {
    ({ url } = await bridge.listen());
  } catch (error) {
    await closeBridge();
    throw error;
  }
  const transport = createWebSocketTransport({ url });
  return {
    bridge,
    transport,
    async close() {
      await transport.close();
      await closeBridge();
    },
  };
}

/** Registers an afterAll that closes every resource passed to the returned function, last first. */
export function closeAfterAll(): <T extends Closable>(resource: T) => T {
  const open: Closable[] = [];
  afterAll(async () => {
    for (const resource of open.splice(0).reverse()) await resource.close();
  });
  return (resource) => {
    open.push(resource);
    return resource;
  };
}

export interface UpstreamGateway {
  readonly upstream: GrpcJsTestServer;
  readonly bridge: WebSocketBridge;
  readonly transport: WebSocketTransport;
}

/**
 * For the enclosing suite: a grpc-js TestService upstream and a gateway in front of it, started in
 * beforeAll and closed in afterAll (fields are set once beforeAll has run). `bridgeOptions` builds
 * the bridge's options from the upstream (default: forward every call to it); whatever it opens
 * and passes to `keep` is closed after the gateway and before the upstream.
 */
export function useUpstreamGateway(
  bridgeOptions: (
    upstream: GrpcJsTestServer,
    keep: <T extends Closable>(resource: T) => T,
  ) => WebSocketBridgeOptions | Promise<WebSocketBridgeOptions> = (upstream) => ({ upstream: upstream.baseUrl }),
): UpstreamGateway {
  const keep = closeAfterAll();
  const suite = {} as { -readonly [K in keyof UpstreamGateway]: UpstreamGateway[K] };
  beforeAll(async () => {
    suite.upstream = keep(await startGrpcJsTestServer());
    const { bridge, transport } = keep(await startGateway(await bridgeOptions(suite.upstream, keep)));
    suite.bridge = bridge;
    suite.transport = transport;
  });
  return suite;
}

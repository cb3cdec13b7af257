// One bridge for a whole spec file: started before its tests, closed after them; the sockets a
// test opens are closed after that test, so every test starts with the bridge holding none.
import type { Settings } from "@grpc-ws/wire";
import { afterAll, afterEach, beforeAll } from "vitest";
import { createWebSocketBridge, type WebSocketBridge, type WebSocketBridgeOptions } from "./index.js";
import { RawPeer, TestClient, until } from "./test-client.test-util.js";

export interface BridgeFixture {
  /** Set once beforeAll has run. */
  readonly bridge: WebSocketBridge;
  readonly url: string;
  /** A TestClient on the bridge, closed after the current test. */
  connect(settings?: Partial<Settings>): Promise<TestClient>;
  /** A raw socket on the bridge, closed after the current test. */
  connectRaw(): Promise<RawPeer>;
}

export function useBridge(options: WebSocketBridgeOptions): BridgeFixture {
  let bridge: WebSocketBridge | undefined;
  let url = "";
  const peers: Array<TestClient | RawPeer> = [];
  const track = <T extends TestClient | RawPeer>(peer: T): T => {
    peers.push(peer);
    return peer;
  };

  beforeAll(async () => {
    bridge = createWebSocketBridge(options);
    ({ url } = await bridge.listen());
  });

  afterEach(async () => {
    await Promise.all(peers.splice(0).map((p) => p.close()));
    await until(() => !bridge || bridge.connections === 0, "the bridge to see every socket close");
  });

  afterAll(() => bridge?.close({ drainTimeoutMs: 100 }));

  return {
    get bridge() {
      if (!bridge) throw new Error("the bridge starts in beforeAll");
      return bridge;
    },
    get url() {
      return url;
    },
    connect: async (settings) => track(await TestClient.connect(url, settings)),
    connectRaw: async () => track(await RawPeer.connect(url)),
  };
}

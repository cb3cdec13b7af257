// wss://: the bridge on an https.Server with a certificate made here (a fresh CA signs it), and the
// client trusting that CA; the authentication hook sees the TLS state and an https URL.
import { createServer, type Server } from "node:https";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createWebSocketTransport, type WebSocketConstructor } from "@grpc-ws/client";
import { generate } from "selfsigned";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { TestService } from "../../../../gen/grpc/testing/test_pb.js";
import { createWebSocketBridge, type WebSocketBridge } from "../index.js";
import type { AuthenticateContext } from "./authenticate.js";

let bridge: WebSocketBridge;
let server: Server;
let url = "";
let caCert = "";
const hooks: AuthenticateContext[] = [];

/** `ws` with extra TLS options, as a `webSocket` option of the transport. */
function wsWith(tls: { ca?: string }): WebSocketConstructor {
  return class extends WebSocket {
    constructor(address: string, protocols: string | string[], options?: object) {
      super(address, protocols, { ...options, ...tls });
    }
  } as unknown as WebSocketConstructor;
}

beforeAll(async () => {
  const ca = await generate([{ name: "commonName", value: "grpc-ws access test CA" }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    extensions: [
      { name: "basicConstraints", cA: true, critical: true },
      { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  const leaf = await generate([{ name: "commonName", value: "localhost" }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      {
        name: "subjectAltName",
        altNames: [
          { type: 7, ip: "127.0.0.1" },
          { type: 2, value: "localhost" },
        ],
      },
      { name: "extKeyUsage", serverAuth: true },
    ],
  });
  caCert = ca.cert;
  bridge = createWebSocketBridge({
    keepalive: false,
    authenticate: (req) => {
      hooks.push(req);
      if (req.token !== "tls-token") throw new ConnectError("token required", Code.Unauthenticated);
      return { identity: "tls-user" };
    },
    onRefused: () => undefined,
    routes: (router) => router.rpc(TestService.method.emptyCall, () => ({})),
  });
  server = createServer({ key: leaf.private, cert: leaf.cert });
  bridge.attach(server, { path: "/grpc" });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `wss://127.0.0.1:${(server.address() as { port: number }).port}/grpc?tenant=t1`;
});

afterAll(async () => {
  await bridge?.close({ drainTimeoutMs: 100 });
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});

describe("wss://", () => {
  it("a client that trusts the CA calls over TLS; the hook sees the TLS state and the https URL", async () => {
    const transport = createWebSocketTransport({
      url,
      token: "tls-token",
      keepalive: false,
      webSocket: wsWith({ ca: caCert }),
    });
    try {
      await createClient(TestService, transport).emptyCall({});
    } finally {
      await transport.close();
    }
    const hook = hooks.at(-1)!;
    expect(hook.tls?.protocol).toMatch(/^TLSv1\.[23]$/);
    expect(hook.tls?.peerCertificate).toBeUndefined();
    expect(hook.url.protocol).toBe("https:");
    expect(hook.url.pathname).toBe("/grpc");
    expect(hook.url.searchParams.get("tenant")).toBe("t1");
  });

  it("a client that does not trust the CA cannot connect; with a wrong token it is refused as Unauthenticated", async () => {
    const untrusting = createWebSocketTransport({ url, token: "tls-token", keepalive: false, webSocket: wsWith({}) });
    const before = hooks.length;
    try {
      await expect(createClient(TestService, untrusting).emptyCall({})).rejects.toMatchObject({
        code: Code.Unavailable,
      });
    } finally {
      await untrusting.close();
    }
    expect(hooks.length).toBe(before);
    const wrong = createWebSocketTransport({
      url,
      token: "other",
      keepalive: false,
      webSocket: wsWith({ ca: caCert }),
    });
    try {
      await expect(createClient(TestService, wrong).emptyCall({})).rejects.toMatchObject({
        code: Code.Unauthenticated,
        rawMessage: "token required",
      });
    } finally {
      await wrong.close();
    }
  });
});

// Upstreams on a unix domain socket (`socketPath`): grpc-js bound to unix://<fresh temp dir>/...,
// cleartext and TLS; the target URL still gives `:authority` and the name the certificate is checked against.
import http2 from "node:http2";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ServerCredentials } from "@grpc/grpc-js";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import type { WebSocketTransport } from "@grpc-ws/client";
import { interopCaseNames, interopCases, startGrpcJsTestServer, type GrpcJsTestServer } from "@grpc-ws/interop";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestService } from "../../../../gen/grpc/testing/test_pb.js";
import type { UpstreamTarget } from "./config.js";
import { startGateway, type Closable } from "./gateway-harness.test-util.js";

const fixture = (name: string): Buffer => readFileSync(new URL(`./testdata/${name}`, import.meta.url));

let dir: string;
const open: Closable[] = [];

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "grpc-ws-upstream-"));
});

afterAll(async () => {
  for (const o of open.reverse()) await o.close();
  rmSync(dir, { recursive: true, force: true });
});

async function gateway(target: UpstreamTarget): Promise<WebSocketTransport> {
  const gw = await startGateway({ upstream: target });
  open.push(gw);
  return gw.transport;
}

/** The error an EmptyCall through `transport` fails with, or undefined when it succeeds. */
function emptyCallError(transport: WebSocketTransport): Promise<ConnectError | undefined> {
  return createClient(TestService, transport)
    .emptyCall({})
    .then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
}

describe("cleartext upstream on a unix socket", () => {
  let upstream: GrpcJsTestServer;
  let socketPath: string;
  let transport: WebSocketTransport;

  beforeAll(async () => {
    socketPath = path.join(dir, "cleartext.sock");
    upstream = await startGrpcJsTestServer({ address: `unix://${socketPath}` });
    open.push(upstream);
    transport = await gateway({ target: "http://upstream.internal", socketPath });
  });

  for (const name of interopCaseNames) {
    it(name, async () => {
      await interopCases[name](transport);
    });
  }

  it("sends the target's host (or `authority`) as :authority", async () => {
    // grpc-js does not show :authority to handlers: a bare HTTP/2 server on a second socket does.
    const seen: Array<string | undefined> = [];
    const server = http2.createServer();
    server.on("stream", (stream, headers) => {
      seen.push(headers[":authority"]);
      stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "0" }, { endStream: true });
    });
    const bare = path.join(dir, "bare.sock");
    await new Promise<void>((resolve) => server.listen(bare, resolve));
    open.push({ close: () => new Promise<void>((resolve) => server.close(() => resolve())) });
    const client = (t: WebSocketTransport) => createClient(TestService, t);
    await client(await gateway({ target: "http://upstream.internal:8080", socketPath: bare }))
      .emptyCall({})
      .catch(() => undefined);
    await client(await gateway({ target: "http://upstream.internal", socketPath: bare, authority: "api.example" }))
      .emptyCall({})
      .catch(() => undefined);
    expect(seen).toEqual(["upstream.internal:8080", "api.example"]);
  });

  it("a missing socket file fails UNAVAILABLE with the OS error", async () => {
    const missing = path.join(dir, "missing.sock");
    const ws = await gateway({ target: "http://localhost", socketPath: missing });
    const error = await emptyCallError(ws);
    expect(error?.code).toBe(Code.Unavailable);
    expect(error?.rawMessage).toContain("upstream http://localhost/ unavailable: ");
    expect(error?.rawMessage).toContain("ENOENT");
  });
});

describe("TLS upstream on a unix socket", () => {
  let upstream: GrpcJsTestServer;
  let socketPath: string;

  beforeAll(async () => {
    socketPath = path.join(dir, "tls.sock");
    const credentials = ServerCredentials.createSsl(
      fixture("ca.crt"),
      [{ cert_chain: fixture("server.crt"), private_key: fixture("server.key") }],
      false,
    );
    upstream = await startGrpcJsTestServer({ address: `unix://${socketPath}`, credentials });
    open.push(upstream);
  });

  it("checks the certificate against the target's host name", async () => {
    const ok = await gateway({ target: "https://localhost", socketPath, tls: { ca: fixture("ca.crt") } });
    expect((await createClient(TestService, ok).unaryCall({ responseSize: 5 })).payload?.body.length).toBe(5);
    await interopCases.ping_pong(ok);

    const wrongName = await gateway({ target: "https://elsewhere.test", socketPath, tls: { ca: fixture("ca.crt") } });
    const error = await emptyCallError(wrongName);
    expect(error?.code).toBe(Code.Unavailable);
    expect(error?.rawMessage).toContain("TLS handshake failed: ");
    expect(error?.rawMessage).toContain("ERR_TLS_CERT_ALTNAME_INVALID");
  });
});

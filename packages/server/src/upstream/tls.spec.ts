// https:// upstreams: a grpc-js server with a certificate from a test CA (testdata/), trusted via
// `tls.ca`; mutual TLS with `tls.cert`/`tls.key`; `servername`; and the clear UNAVAILABLE a call
// gets when the TLS handshake (or the upstream's check of the client certificate) fails.
import { readFileSync } from "node:fs";
import { ServerCredentials } from "@grpc/grpc-js";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { interopCaseNames, interopCases, startGrpcJsTestServer, type GrpcJsTestServer } from "@grpc-ws/interop";
import { beforeAll, describe, expect, it } from "vitest";
import { TestService } from "../../../../gen/grpc/testing/test_pb.js";
import type { UpstreamTarget } from "./config.js";
import { closeAfterAll, startGateway } from "./gateway-harness.test-util.js";

const fixture = (name: string): Buffer => readFileSync(new URL(`./testdata/${name}`, import.meta.url));
const ca = fixture("ca.crt");
const serverKeyPair = { cert_chain: fixture("server.crt"), private_key: fixture("server.key") };
const clientCert = { cert: fixture("client.crt"), key: fixture("client.key") };

const keep = closeAfterAll();

/** A bridge forwarding to `target`, and a TestService client on it. */
async function gateway(target: UpstreamTarget) {
  const { transport } = keep(await startGateway({ upstream: target }));
  return { transport, client: createClient(TestService, transport) };
}

async function unaryError(target: UpstreamTarget): Promise<ConnectError | undefined> {
  const { client } = await gateway(target);
  const e = await client.unaryCall({ responseSize: 1 }).then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  return e;
}

describe("TLS upstream", () => {
  let upstream: GrpcJsTestServer;

  beforeAll(async () => {
    upstream = await startGrpcJsTestServer({ credentials: ServerCredentials.createSsl(ca, [serverKeyPair], false) });
    keep(upstream);
    expect(upstream.baseUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  });

  describe("trusted via tls.ca: every interop case", () => {
    let transport: Awaited<ReturnType<typeof gateway>>["transport"];
    beforeAll(async () => {
      ({ transport } = await gateway({ target: upstream.baseUrl, tls: { ca } }));
    });
    for (const name of interopCaseNames) {
      it(name, async () => {
        await interopCases[name](transport);
      });
    }
  });

  it("reaches the upstream by a DNS name of its certificate (localhost)", async () => {
    const { client } = await gateway({ target: `https://localhost:${upstream.port}`, tls: { ca } });
    expect((await client.unaryCall({ responseSize: 2 })).payload?.body.length).toBe(2);
  });

  it("without the CA: UNAVAILABLE naming the TLS handshake failure, and nothing reaches the upstream", async () => {
    upstream.clearEvents();
    const error = await unaryError({ target: upstream.baseUrl });
    expect(error?.code).toBe(Code.Unavailable);
    expect(error?.rawMessage).toContain(`upstream ${upstream.baseUrl}/ unavailable: TLS handshake failed: `);
    // Which of the two depends on whether the server sends the CA along with its certificate (grpc-js does).
    expect(error?.rawMessage).toMatch(
      /: (self-signed certificate in certificate chain \(SELF_SIGNED_CERT_IN_CHAIN\)|unable to verify the first certificate \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\))$/,
    );
    expect(upstream.events.started).toEqual([]);
  });

  it("checks the certificate against servername when one is given", async () => {
    const good = await gateway({ target: upstream.baseUrl, tls: { ca, servername: "upstream.test" } });
    expect((await good.client.unaryCall({ responseSize: 1 })).payload?.body.length).toBe(1);
    const error = await unaryError({ target: upstream.baseUrl, tls: { ca, servername: "elsewhere.test" } });
    expect(error?.code).toBe(Code.Unavailable);
    expect(error?.rawMessage).toContain("TLS handshake failed: ");
    expect(error?.rawMessage).toContain("ERR_TLS_CERT_ALTNAME_INVALID");
  });

  it("rejectUnauthorized: false accepts the untrusted certificate", async () => {
    const { client } = await gateway({ target: upstream.baseUrl, tls: { rejectUnauthorized: false } });
    expect((await client.unaryCall({ responseSize: 3 })).payload?.body.length).toBe(3);
  });

  it("a cleartext http:// target to the TLS port fails UNAVAILABLE, and the bridge keeps serving", async () => {
    const error = await unaryError({ target: `http://127.0.0.1:${upstream.port}`, connectTimeoutMs: 2000 });
    expect(error?.code).toBe(Code.Unavailable);
    // Followed by " (ECONNRESET)" when the server's close arrives as a reset.
    expect(error?.rawMessage).toContain(
      `upstream http://127.0.0.1:${upstream.port}/ unavailable: the upstream closed the connection before HTTP/2 started (a TLS port? then use an https: target)`,
    );
  });
});

describe("mutual TLS upstream", () => {
  let upstream: GrpcJsTestServer;

  beforeAll(async () => {
    upstream = await startGrpcJsTestServer({ credentials: ServerCredentials.createSsl(ca, [serverKeyPair], true) });
    keep(upstream);
  });

  it("with tls.cert and tls.key: calls of every kind go through", async () => {
    const { transport } = await gateway({ target: upstream.baseUrl, tls: { ca, ...clientCert } });
    for (const name of [
      "large_unary",
      "client_streaming",
      "server_streaming",
      "ping_pong",
      "custom_metadata",
      "status_code_and_message",
    ] as const) {
      await interopCases[name](transport);
    }
  });

  it("without a client certificate: UNAVAILABLE naming the TLS failure", async () => {
    upstream.clearEvents();
    const error = await unaryError({ target: upstream.baseUrl, tls: { ca } });
    expect(error?.code).toBe(Code.Unavailable);
    expect(error?.rawMessage).toMatch(/unavailable: TLS (handshake failed|error): .*certificate required/);
    // OpenSSL's raw "8050...:error:0A00045C:SSL routines:..." string is not what the client sees.
    expect(error?.rawMessage).not.toContain("SSL routines");
    expect(upstream.events.started).toEqual([]);
  });

  it("with a certificate the upstream does not take from a client: UNAVAILABLE, pointing at the client certificate", async () => {
    // The server's certificate is for serverAuth only: grpc-js (Node's TLS server) completes the
    // handshake, then drops the connection without an alert.
    upstream.clearEvents();
    const error = await unaryError({
      target: upstream.baseUrl,
      tls: { ca, cert: serverKeyPair.cert_chain, key: serverKeyPair.private_key },
    });
    expect(error?.code).toBe(Code.Unavailable);
    expect(error?.rawMessage).toContain(
      `upstream ${upstream.baseUrl}/ unavailable: the upstream closed the connection before HTTP/2 started (did it reject the client certificate?)`,
    );
    expect(upstream.events.started).toEqual([]);
  });
});

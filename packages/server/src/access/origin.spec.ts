// Cross-site WebSocket hijacking: which Origin headers the bridge lets upgrade, by default and per
// option; refusals are HTTP 403 before any WebSocket exists, and are reported.
import type { IncomingMessage } from "node:http";
import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { TestService } from "../../../../gen/grpc/testing/test_pb.js";
import { useBridge } from "../bridge-fixture.test-util.js";
import type { RefusalInfo } from "./refusal.js";
import { originCheck } from "./origin.js";
import { probeUpgrade } from "./upgrade-probe.test-util.js";

const request = (host: string, encrypted = false) =>
  ({ headers: { host }, socket: { encrypted } }) as unknown as IncomingMessage;

describe("originCheck", () => {
  it("by default allows only the origin of the Host the request was sent to", () => {
    const check = originCheck(undefined);
    expect(check("http://app.test:8080", request("app.test:8080"))).toBe(true);
    expect(check("HTTP://APP.test:8080", request("app.test:8080"))).toBe(true);
    expect(check("https://app.test", request("app.test", true))).toBe(true);
    // TLS ended at a proxy in front of a cleartext bridge: same host.
    expect(check("https://app.test", request("app.test"))).toBe(true);
    expect(check("http://app.test", request("app.test", true))).toBe(false);
    expect(check("http://app.test:8081", request("app.test:8080"))).toBe(false);
    expect(check("https://evil.example", request("app.test"))).toBe(false);
    expect(check("null", request("app.test"))).toBe(false);
    expect(originCheck("same-origin")("https://evil.example", request("app.test"))).toBe(false);
  });

  it("takes exact origins and a wildcard subdomain form, on top of the same origin", () => {
    const check = originCheck(["https://app.example.com", "http://127.0.0.1:5173", "https://*.example.org"]);
    const r = request("bridge.test");
    expect(check("http://bridge.test", r)).toBe(true);
    expect(check("https://app.example.com", r)).toBe(true);
    expect(check("https://APP.example.com", r)).toBe(true);
    expect(check("http://app.example.com", r)).toBe(false);
    expect(check("https://app.example.com:444", r)).toBe(false);
    expect(check("http://127.0.0.1:5173", r)).toBe(true);
    expect(check("http://127.0.0.1:5174", r)).toBe(false);
    expect(check("https://a.example.org", r)).toBe(true);
    expect(check("https://a.b.example.org", r)).toBe(true);
    expect(check("https://example.org", r)).toBe(false);
    expect(check("https://evilexample.org", r)).toBe(false);
    expect(check("https://a.example.org.evil.test", r)).toBe(false);
    expect(check("http://a.example.org", r)).toBe(false);
    expect(check("https://a.example.org:8443", r)).toBe(false);
    expect(check("null", r)).toBe(false);
    expect(originCheck(["null"])("null", r)).toBe(true);
  });

  it("a predicate decides alone; 'any' allows every origin", () => {
    const seen: string[] = [];
    const check = originCheck((origin) => {
      seen.push(origin);
      return origin.endsWith(".trusted.test");
    });
    expect(check("https://x.trusted.test", request("bridge.test"))).toBe(true);
    expect(check("http://bridge.test", request("bridge.test"))).toBe(false);
    expect(seen).toEqual(["https://x.trusted.test", "http://bridge.test"]);
    expect(originCheck("any")("https://evil.example", request("bridge.test"))).toBe(true);
  });

  it("refuses malformed list entries at startup", () => {
    expect(() => originCheck(["https://app.example.com/"])).toThrow(/no path/);
    expect(() => originCheck(["https://app.example.com/path"])).toThrow(/no path/);
    expect(() => originCheck(["app.example.com"])).toThrow(/not an origin/);
    expect(() => originCheck("everyone" as never)).toThrow(TypeError);
  });
});

describe("on a real socket", () => {
  const refused: RefusalInfo[] = [];
  const fx = useBridge({
    routes: (router) => router.rpc(TestService.method.emptyCall, () => ({})),
    keepalive: false,
    onRefused: (info) => refused.push(info),
  });

  it("a cross-site upgrade gets 403 and no WebSocket, and is reported", async () => {
    refused.length = 0;
    let upgrades = 0;
    const counted = (fx.bridge as unknown as { wss: { on(e: string, f: () => void): void } }).wss;
    counted.on("headers", () => upgrades++);
    const probe = await probeUpgrade(fx.url, { headers: { origin: "https://evil.example", cookie: "session=victim" } });
    expect(probe.status).toBe(403);
    expect(probe.body).toContain("origin https://evil.example is not allowed");
    expect(upgrades).toBe(0);
    expect(fx.bridge.connections).toBe(0);
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({
      reason: "origin",
      code: Code.PermissionDenied,
      httpStatus: 403,
      origin: "https://evil.example",
      path: "/",
    });
  });

  it("an upgrade without Origin (a Node client) and a same-origin one are allowed", async () => {
    refused.length = 0;
    expect((await probeUpgrade(fx.url, { closeWithinMs: 50 })).status).toBe(101);
    const host = new URL(fx.url).host;
    expect((await probeUpgrade(fx.url, { headers: { origin: `http://${host}` }, closeWithinMs: 50 })).status).toBe(101);
    expect(refused).toEqual([]);
  });
});

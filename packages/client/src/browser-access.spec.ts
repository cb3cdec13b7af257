// Access control as a real browser meets it (Chromium through playwright-core): a page from
// 127.0.0.1:A, which set an HttpOnly session cookie, opens bridges on 127.0.0.1:B. Cross-site
// upgrades are refused by default even with the cookie; a listed origin gets in; refusals by the
// authentication hook reach the page as Unauthenticated / PermissionDenied with the server's message.
import { Code, ConnectError } from "@connectrpc/connect";
import { launchChromium, testServiceImpl } from "@grpc-ws/interop";
import {
  createWebSocketBridge,
  type AuthenticateContext,
  type RefusalInfo,
  type WebSocketBridge,
} from "@grpc-ws/server";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestService } from "../../../gen/grpc/testing/test_pb.js";
import { repoRoot, servePage, type ServedPage } from "@grpc-ws/interop/page-server";

// Runs in the page: one EmptyCall through a fresh transport; reports the outcome and the states.
const entry = `
import { createClient } from "@connectrpc/connect";
import { createWebSocketTransport } from "${repoRoot}packages/client/src/index.ts";
import { TestService } from "${repoRoot}gen/grpc/testing/test_pb.ts";
window.tryCall = async (url, token) => {
  const transport = createWebSocketTransport({ url, token: token ?? undefined, reconnect: { initialDelayMs: 5000 } });
  const states = [];
  transport.onStateChange((s) => states.push(s));
  const client = createClient(TestService, transport);
  let outcome;
  try { await client.emptyCall({}); outcome = { ok: true }; }
  catch (e) { outcome = { ok: false, code: e.code, message: e.rawMessage }; }
  const stateAfter = transport.state;
  await transport.close();
  return { ...outcome, states, stateAfter };
};
window.tryHeaders = (url) => {
  try { createWebSocketTransport({ url, headers: { authorization: "Bearer x" } }); return "created"; }
  catch (e) { return e.name + ": " + e.message; }
};
`;

interface Outcome {
  ok: boolean;
  code?: Code;
  message?: string;
  states: string[];
  stateAfter: string;
}

const SESSION = "victim-session-6c1f";

describe("in Chromium", () => {
  let page: ServedPage | undefined;
  let browser: Browser;
  let tab: Page;
  const bridges: WebSocketBridge[] = [];
  const refused: RefusalInfo[] = [];
  const hooks: AuthenticateContext[] = [];

  async function startBridge(options: Parameters<typeof createWebSocketBridge>[0]): Promise<string> {
    const bridge = createWebSocketBridge({
      routes: (r) => r.service(TestService, testServiceImpl),
      onRefused: (i) => refused.push(i),
      ...options,
    });
    bridges.push(bridge);
    return (await bridge.listen()).url;
  }

  const tryCall = (url: string, token?: string): Promise<Outcome> =>
    tab.evaluate(
      ([u, t]) =>
        (window as unknown as { tryCall(u: string, t: string | null): Promise<Outcome> }).tryCall(u!, t ?? null),
      [url, token ?? null] as const,
    );

  beforeAll(async () => {
    // Cookies ignore ports: this one goes with every upgrade to 127.0.0.1, whatever the port.
    page = await servePage(entry, { "set-cookie": `session=${SESSION}; HttpOnly; SameSite=Strict; Path=/` });
    browser = await launchChromium();
    tab = await browser.newPage();
    await tab.goto(page.url);
  });

  afterAll(async () => {
    await browser?.close();
    await page?.close();
    await Promise.all(bridges.map((b) => b.close({ drainTimeoutMs: 50 })));
  });

  it("a page of another origin is refused by default, cookie or not, before any WebSocket or hook", async () => {
    refused.length = 0;
    const url = await startBridge({ authenticate: (req) => void hooks.push(req) });
    const out = await tryCall(url);
    expect(out.ok).toBe(false);
    // The browser sees only close 1006: a failed attempt.
    expect(out.code).toBe(Code.Unavailable);
    expect(refused).toMatchObject([{ reason: "origin", httpStatus: 403, origin: page!.origin }]);
    expect(hooks).toHaveLength(0);
    expect(bridges.at(-1)!.connections).toBe(0);
  });

  it("the same page gets in once its origin is listed; the hook sees its HttpOnly cookie", async () => {
    hooks.length = 0;
    const url = await startBridge({ allowedOrigins: [page!.origin], authenticate: (req) => void hooks.push(req) });
    const out = await tryCall(url);
    expect(out).toMatchObject({ ok: true, states: ["connecting", "open", "closed"], stateAfter: "open" });
    expect(hooks).toHaveLength(1);
    expect(hooks[0]!.origin).toBe(page!.origin);
    expect(hooks[0]!.cookies["session"]).toBe(SESSION);
  });

  it("refusals by the hook reach the page as Unauthenticated / PermissionDenied with the server's message; the state says refused", async () => {
    hooks.length = 0;
    const url = await startBridge({
      allowedOrigins: (origin) => origin === page!.origin,
      authenticate: (req) => {
        hooks.push(req);
        if (req.token === "page-token") return { identity: "page-user" };
        if (req.token === "revoked-token") throw new ConnectError("this token was revoked", Code.PermissionDenied);
        throw new ConnectError("sign in first", Code.Unauthenticated);
      },
    });
    expect(await tryCall(url, "page-token")).toMatchObject({ ok: true });
    expect(hooks[0]!.token).toBe("page-token");
    expect(hooks[0]!.subprotocols).toEqual(["grpc-ws.v1"]);
    expect(await tryCall(url)).toMatchObject({
      ok: false,
      code: Code.Unauthenticated,
      message: "sign in first",
      stateAfter: "refused",
    });
    expect(await tryCall(url, "revoked-token")).toMatchObject({
      ok: false,
      code: Code.PermissionDenied,
      message: "this token was revoked",
      stateAfter: "refused",
    });
  });

  it("the Node-only headers option throws TypeError in a browser instead of being dropped", async () => {
    const result = await tab.evaluate(
      (u) => (window as unknown as { tryHeaders(u: string): string }).tryHeaders(u),
      "ws://127.0.0.1:1/",
    );
    expect(result).toMatch(/^TypeError: .*headers option needs Node's ws WebSocket/);
  });
}, 60_000);

// The two grpc-websockets client libraries in a real browser (Chromium through playwright-core),
// with the browser's own WebSocket, against the bridge: in process and through the gateway to a
// real grpc-js server.
import { createWebSocketBridge, type WebSocketBridge } from "@grpc-ws/server";
import { Code } from "@connectrpc/connect";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestService } from "../../../gen/grpc/testing/test_pb.js";
import { launchChromium } from "./chromium.js";
import { compatCaseNames, type CompatLibrary } from "./compat-cases.js";
import { startGrpcJsTestServer, type GrpcJsTestServer } from "./grpc-js-server.js";
import { repoRoot as root, servePage, type ServedPage } from "./page-server.js";
import { createTestServiceImpl, type TestServiceMethodName } from "./test-service.js";

// Runs in the page: every case of both libraries against one base URL.
const entry = `
import { compatCaseNames, compatCases } from "${root}packages/interop/src/compat-cases.ts";
window.runCompat = async (baseUrl, library, names) => {
  const results = {};
  for (const name of names ?? compatCaseNames) {
    try { await compatCases[library][name](baseUrl); results[name] = "ok"; }
    catch (e) { results[name] = String((e && e.message) || e); }
  }
  return { results, nativeWebSocket: typeof WebSocket === "function" && !("Server" in WebSocket) };
};
`;

interface PageResult {
  results: Record<string, string>;
  nativeWebSocket: boolean;
}

const libraries: CompatLibrary[] = ["improbable-eng", "nice-grpc-web"];

describe("grpc-websockets client libraries in Chromium", () => {
  const aborts: Array<{ method: TestServiceMethodName; reason: unknown }> = [];
  let upstream: GrpcJsTestServer;
  let inProcess: WebSocketBridge;
  let gateway: WebSocketBridge;
  let page: ServedPage;
  let browser: Browser;
  let tab: Page;
  let inProcessUrl = "";
  let gatewayUrl = "";

  beforeAll(async () => {
    // The page has an origin of its own: the bridges list it (access control applies to both front ends).
    page = await servePage(entry);
    const pageOrigin = page.origin;
    const impl = createTestServiceImpl({ onAbort: (method, reason) => aborts.push({ method, reason }) });
    inProcess = createWebSocketBridge({ routes: (r) => r.service(TestService, impl), allowedOrigins: [pageOrigin] });
    inProcessUrl = `http://127.0.0.1:${(await inProcess.listen()).port}`;
    upstream = await startGrpcJsTestServer();
    gateway = createWebSocketBridge({ upstream: upstream.baseUrl, allowedOrigins: [pageOrigin] });
    gatewayUrl = `http://127.0.0.1:${(await gateway.listen({ path: "/rpc" })).port}/rpc`;
    browser = await launchChromium();
    tab = await browser.newPage();
    await tab.goto(page.url);
  });

  afterAll(async () => {
    await browser?.close();
    await page?.close();
    await inProcess?.close({ drainTimeoutMs: 50 });
    await gateway?.close({ drainTimeoutMs: 50 });
    await upstream?.close();
  });

  const run = (baseUrl: string, library: CompatLibrary, names?: string[]): Promise<PageResult> =>
    tab.evaluate(
      ([u, l, n]) =>
        (window as unknown as { runCompat(u: string, l: string, n?: string[]): Promise<PageResult> }).runCompat(
          u,
          l,
          n,
        ),
      [baseUrl, library, names] as const,
    );

  for (const library of libraries) {
    it(`${library}: every case in process, over the browser's native WebSocket`, async () => {
      aborts.length = 0;
      const out = await run(inProcessUrl, library);
      expect(out.nativeWebSocket).toBe(true);
      expect(Object.keys(out.results)).toEqual([...compatCaseNames]);
      expect(Object.entries(out.results).filter(([, r]) => r !== "ok")).toEqual([]);
      // The deadline and the cancel reached the handlers.
      for (let i = 0; i < 50 && aborts.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(aborts.map((a) => [a.method, (a.reason as { code?: unknown }).code]).sort()).toEqual([
        ["FullDuplexCall", Code.Canceled],
        ["StreamingOutputCall", Code.DeadlineExceeded],
      ]);
    });

    it(`${library}: every case through the gateway to grpc-js`, async () => {
      upstream.clearEvents();
      const out = await run(gatewayUrl, library);
      expect(Object.entries(out.results).filter(([, r]) => r !== "ok")).toEqual([]);
      expect((await upstream.waitForCancel("FullDuplexCall", 2_000)).cancelledAt).toBeDefined();
      expect(await upstream.waitForAbort("StreamingOutputCall", 2_000)).toBeDefined();
    });
  }
});

// The client in a real browser (Chromium through playwright-core): the esbuild browser bundle of
// the transport and the interop cases, against the real bridge on 127.0.0.1.
import { createWebSocketBridge, type WebSocketBridge } from "@grpc-ws/server";
import { launchChromium, testServiceImpl } from "@grpc-ws/interop";
import { build } from "esbuild";
import { createServer, type Server } from "node:http";
import { fileURLToPath } from "node:url";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestService } from "../../../gen/grpc/testing/test_pb.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));

// Runs in the page: every interop case through createWebSocketTransport with the native WebSocket.
const entry = `
import { createWebSocketTransport } from "${root}packages/client/src/index.ts";
import { interopCaseNames, interopCases } from "${root}packages/interop/src/browser.ts";
window.runInterop = async (url) => {
  const transport = createWebSocketTransport({ url });
  const states = [];
  transport.onStateChange((s) => states.push(s));
  const results = {};
  for (const name of interopCaseNames) {
    try { await interopCases[name](transport); results[name] = "ok"; }
    catch (e) { results[name] = String(e && e.message || e); }
  }
  await transport.close();
  return { results, states, nativeWebSocket: typeof WebSocket === "function" };
};
`;

describe("in Chromium", () => {
  let bridge: WebSocketBridge;
  let page: Server;
  let browser: Browser;
  let pageUrl = "";
  let wsUrl = "";

  beforeAll(async () => {
    bridge = createWebSocketBridge({ routes: (r) => r.service(TestService, testServiceImpl) });
    wsUrl = (await bridge.listen({ port: 0 })).url;
    const bundle = await build({
      stdin: { contents: entry, resolveDir: root, loader: "ts" },
      bundle: true,
      platform: "browser",
      format: "iife",
      write: false,
      logLevel: "silent",
      tsconfig: `${root}tsconfig.json`,
    });
    const script = bundle.outputFiles[0]!.text;
    page = createServer((req, res) => {
      if (req.url === "/app.js") {
        res.writeHead(200, { "content-type": "text/javascript" }).end(script);
      } else {
        res.writeHead(200, { "content-type": "text/html" }).end(`<!doctype html><script src="/app.js"></script>`);
      }
    });
    await new Promise<void>((resolve) => page.listen(0, "127.0.0.1", resolve));
    pageUrl = `http://127.0.0.1:${(page.address() as { port: number }).port}/`;
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (page ? page.close(() => resolve()) : resolve()));
    await bridge?.close({ drainTimeoutMs: 50 });
  });

  it("passes every interop case over the browser's native WebSocket", async () => {
    const tab = await browser.newPage();
    await tab.goto(pageUrl);
    const out = (await tab.evaluate((url) => (window as unknown as { runInterop(u: string): Promise<unknown> }).runInterop(url), wsUrl)) as {
      results: Record<string, string>;
      states: string[];
      nativeWebSocket: boolean;
    };
    expect(out.nativeWebSocket).toBe(true);
    expect(Object.values(out.results).length).toBeGreaterThan(10);
    expect(Object.entries(out.results).filter(([, r]) => r !== "ok")).toEqual([]);
    expect(out.states).toEqual(["connecting", "open", "closed"]);
  }, 60_000);
});

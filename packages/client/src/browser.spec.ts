// The client in a real browser (Chromium through playwright-core): the esbuild browser bundle of
// the transport and the interop cases, against the real bridge on 127.0.0.1.
import { createWebSocketBridge, type WebSocketBridge } from "@grpc-ws/server";
import { launchChromium, testServiceImpl } from "@grpc-ws/interop";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestService } from "../../../gen/grpc/testing/test_pb.js";
import { repoRoot as root, servePage, type ServedPage } from "@grpc-ws/interop/page-server";

// Runs in the page: every interop case through createWebSocketTransport with the native WebSocket.
const entry = `
import { createWebSocketTransport } from "${root}packages/client/src/index.ts";
import { interopCaseNames, interopCases, compressionCaseNames, compressionCases } from "${root}packages/interop/src/browser.ts";
import { gzip } from "${root}packages/wire/src/index.ts";
window.runCompression = async (url) => {
  // DATA payload bytes each transport sent and received, from its trace.
  const counts = { compressed: { sent: 0, received: 0 }, plain: { sent: 0, received: 0 } };
  const tracing = (c) => (line) => {
    const m = /^([<>]) DATA .*length=(\\d+)/.exec(line);
    if (m && m[1] === ">") c.sent += Number(m[2]);
    else if (m && m[1] === "<") c.received += Number(m[2]);
  };
  const compressed = createWebSocketTransport({
    url, sendCompression: gzip, acceptCompression: [gzip], compressMinBytes: 0, trace: tracing(counts.compressed),
  });
  const plain = createWebSocketTransport({ url, acceptCompression: [], trace: tracing(counts.plain) });
  const results = {};
  for (const name of compressionCaseNames) {
    try { await compressionCases[name]({ compressed, plain }); results[name] = "ok"; }
    catch (e) { results[name] = String(e && e.message || e); }
  }
  await compressed.close();
  await plain.close();
  return { results, counts, platformStreams: typeof CompressionStream === "function" };
};
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
  let page: ServedPage | undefined;
  let browser: Browser;
  let wsUrl = "";

  beforeAll(async () => {
    page = await servePage(entry);
    // The page is another origin (another port): the bridge lets exactly that one in.
    bridge = createWebSocketBridge({
      routes: (r) => r.service(TestService, testServiceImpl),
      allowedOrigins: [page.origin],
    });
    wsUrl = (await bridge.listen({ port: 0 })).url;
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await page?.close();
    await bridge?.close({ drainTimeoutMs: 50 });
  });

  /** Opens a tab on the page and runs `window[fn](bridge url)` there. */
  async function runInPage<T>(fn: "runInterop" | "runCompression"): Promise<T> {
    const tab = await browser.newPage();
    await tab.goto(page!.url);
    return (await tab.evaluate(
      ([name, url]) => (window as unknown as Record<string, (u: string) => Promise<unknown>>)[name]!(url),
      [fn, wsUrl] as const,
    )) as T;
  }

  it("passes every interop case over the browser's native WebSocket", async () => {
    const out = await runInPage<{ results: Record<string, string>; states: string[]; nativeWebSocket: boolean }>(
      "runInterop",
    );
    expect(out.nativeWebSocket).toBe(true);
    expect(Object.values(out.results).length).toBeGreaterThan(10);
    expect(Object.entries(out.results).filter(([, r]) => r !== "ok")).toEqual([]);
    expect(out.states).toEqual(["connecting", "open", "closed"]);
  }, 60_000);

  it("passes the four compression cases with the page's CompressionStream gzip", async () => {
    const out = await runInPage<{
      results: Record<string, string>;
      counts: Record<"compressed" | "plain", { sent: number; received: number }>;
      platformStreams: boolean;
    }>("runCompression");
    expect(out.platformStreams).toBe(true);
    expect(Object.keys(out.results)).toHaveLength(4);
    expect(Object.entries(out.results).filter(([, r]) => r !== "ok")).toEqual([]);
    // About 0.9 MB of zero payloads each way; compressed, a few KB. The bridge's TestService sends
    // the two responses asked for uncompressed (response_compressed false) as they are.
    const uncompressed = 314_159 + 92_653;
    expect(out.counts.compressed.sent).toBeLessThan(20_000);
    expect(out.counts.compressed.received).toBeGreaterThan(uncompressed);
    expect(out.counts.compressed.received).toBeLessThan(uncompressed + 20_000);
    expect(out.counts.plain.sent).toBeGreaterThan(271_828);
  }, 60_000);
});

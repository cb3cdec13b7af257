// The browser run: a page in real Chromium runs unary-sequential and server-streaming through
// grpc-ws, connect-web's Connect transport and its gRPC-Web transport, against one Node server
// (connect-node for Connect and gRPC-Web over HTTP/1.1, the grpc-ws bridge on /ws, the same
// handlers). Plus the min+gzip bundle size of a one-method app on each transport.
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { createWebSocketBridge } from "@grpc-ws/server";
import { build } from "esbuild";
import { TestService } from "../gen/grpc/testing/test_pb.js";
import { launchChromium } from "../packages/interop/src/chromium.js";
import type { BrowserResult, BrowserTransport } from "./browser-page.js";
import { stat, type Stat } from "./report.js";
import { connectImpl } from "./service.js";

const root = new URL("../", import.meta.url);
const tsconfig = fileURLToPath(new URL("tsconfig.json", root));
const TRANSPORTS: BrowserTransport[] = ["grpc-ws", "connect-web", "grpc-web"];

export interface BrowserResults {
  chromium: string;
  rounds: number;
  unaryP50Us: Partial<Record<BrowserTransport, Stat>>;
  unaryRate: Partial<Record<BrowserTransport, Stat>>;
  streamRate: Partial<Record<BrowserTransport, Stat>>;
  /** Minified + gzipped bytes of a one-method app (createClient + one unary call). */
  bundleGzipBytes: Partial<Record<BrowserTransport | "protobuf only", number>>;
  errors: string[];
  table: string;
}

async function pageBundle(): Promise<string> {
  const r = await build({
    entryPoints: [fileURLToPath(new URL("./browser-page.ts", import.meta.url))],
    bundle: true,
    platform: "browser",
    format: "esm",
    write: false,
    minify: true,
    tsconfig,
    logLevel: "warning",
  });
  return r.outputFiles[0]!.text;
}

const APP_IMPORTS: Record<BrowserTransport, string> = {
  "grpc-ws": `import { createWebSocketTransport } from "@grpc-ws/client"; const transport = createWebSocketTransport({ url: "ws://" + location.host + "/ws" });`,
  "connect-web": `import { createConnectTransport } from "@connectrpc/connect-web"; const transport = createConnectTransport({ baseUrl: location.origin });`,
  "grpc-web": `import { createGrpcWebTransport } from "@connectrpc/connect-web"; const transport = createGrpcWebTransport({ baseUrl: location.origin });`,
};

/** Min+gzip size of a one-method app per transport, and of the generated code alone (the part every transport shares). */
export async function bundleSizes(): Promise<BrowserResults["bundleGzipBytes"]> {
  const gen = fileURLToPath(new URL("gen/grpc/testing/", root));
  const apps: Record<string, string> = {
    "protobuf only": `import { create, toBinary } from "@bufbuild/protobuf"; import { SimpleRequestSchema } from "${gen}messages_pb.js"; import { TestService } from "${gen}test_pb.js";
console.log(TestService.typeName, toBinary(SimpleRequestSchema, create(SimpleRequestSchema, { responseSize: 1 })).length);`,
  };
  for (const t of TRANSPORTS) {
    apps[t] =
      `import { createClient } from "@connectrpc/connect"; import { TestService } from "${gen}test_pb.js"; ${APP_IMPORTS[t]}
createClient(TestService, transport).unaryCall({ responseSize: 1 }).then((r) => console.log(r.payload?.body.length));`;
  }
  const out: BrowserResults["bundleGzipBytes"] = {};
  for (const [name, contents] of Object.entries(apps)) {
    const r = await build({
      stdin: { contents, resolveDir: fileURLToPath(new URL("bench/", root)), loader: "ts" },
      bundle: true,
      platform: "browser",
      format: "esm",
      minify: true,
      write: false,
      tsconfig,
      logLevel: "warning",
    });
    out[name as BrowserTransport] = gzipSync(r.outputFiles[0]!.contents, { level: 9 }).length;
  }
  return out;
}

export async function runBrowser(quick: boolean): Promise<BrowserResults> {
  const rounds = quick ? 1 : 3;
  const unaryCount = quick ? 100 : 1000;
  const streamCount = quick ? 2000 : 50_000;
  const capMs = quick ? 1000 : 4000;
  const errors: string[] = [];
  const bundleGzipBytes = await bundleSizes();
  const script = await pageBundle();
  const html = `<!doctype html><meta charset="utf-8"><title>grpc-ws bench</title><script type="module" src="/page.js"></script>`;
  const serve = (req: { url?: string }, res: Pick<ServerResponse, "writeHead" | "end"> | object): void => {
    const [type, body] =
      req.url === "/page.js"
        ? ["text/javascript", script]
        : req.url === "/"
          ? ["text/html", html]
          : ["text/plain", "not found"];
    (res as ServerResponse).writeHead(body === "not found" ? 404 : 200, { "content-type": type! });
    (res as ServerResponse).end(body);
  };
  const server = createServer(
    connectNodeAdapter({ routes: (router) => router.service(TestService, connectImpl), fallback: serve }),
  );
  const bridge = createWebSocketBridge({ routes: (router) => router.service(TestService, connectImpl) });
  bridge.attach(server, { path: "/ws" });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const browser = await launchChromium();
  const samples = {
    unaryP50Us: new Map<BrowserTransport, number[]>(),
    unaryRate: new Map<BrowserTransport, number[]>(),
    streamRate: new Map<BrowserTransport, number[]>(),
  };
  const push = (m: Map<BrowserTransport, number[]>, k: BrowserTransport, v: number | undefined) => {
    if (v !== undefined && Number.isFinite(v)) m.set(k, [...(m.get(k) ?? []), v]);
  };
  try {
    const page = await browser.newPage();
    page.on("pageerror", (e) => errors.push(`page: ${e.message}`));
    await page.goto(origin);
    await page.waitForFunction(() => "benchRun" in globalThis, undefined, { timeout: 30_000 });
    const run = (k: BrowserTransport, s: "unary" | "stream", n: number, cap: number): Promise<BrowserResult> =>
      page.evaluate(
        ([k, s, n, cap]) =>
          (globalThis as unknown as { benchRun: (...a: unknown[]) => Promise<BrowserResult> }).benchRun(k, s, n, cap),
        [k, s, n, cap] as const,
      );
    for (const k of TRANSPORTS) {
      await run(k, "unary", 50, capMs);
      await run(k, "stream", 500, capMs);
    }
    for (let round = 0; round < rounds; round++) {
      const order = TRANSPORTS.map((_, i) => TRANSPORTS[(i + round) % TRANSPORTS.length]!);
      for (const k of order) {
        try {
          const u = await run(k, "unary", unaryCount, capMs);
          push(samples.unaryP50Us, k, u.p50Us);
          push(samples.unaryRate, k, u.ops / (u.wallMs / 1000));
          const s = await run(k, "stream", streamCount, capMs);
          push(samples.streamRate, k, s.ops / (s.wallMs / 1000));
        } catch (e) {
          errors.push(`${k}: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`);
        }
      }
    }
  } finally {
    await browser.close();
    await bridge.close({ drainTimeoutMs: 100 });
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  const stats = (m: Map<BrowserTransport, number[]>) => Object.fromEntries([...m].map(([k, v]) => [k, stat(v)!]));
  const res: Omit<BrowserResults, "table"> = {
    chromium: browser.version(),
    rounds,
    unaryP50Us: stats(samples.unaryP50Us),
    unaryRate: stats(samples.unaryRate),
    streamRate: stats(samples.streamRate),
    bundleGzipBytes,
    errors,
  };
  return { ...res, table: browserTable(res) };
}

function browserTable(r: Omit<BrowserResults, "table">): string {
  const ms = (v: number) => (v / 1000).toFixed(2);
  const rate = (v: number) => (v >= 1000 ? `${(v / 1000).toFixed(1)} k` : v.toFixed(0));
  const f = (st: Stat | undefined, fmt: (v: number) => string, unit = "") =>
    st ? `${fmt(st.median)}${unit} (${fmt(st.min)}–${fmt(st.max)})` : "—";
  const lines = [
    `Chromium ${r.chromium}, one page, same machine; ${r.rounds} round(s), medians (min–max)`,
    "",
    "| browser transport | unary sequential p50 | unary calls/s | server streaming 100 B, msgs/s | one-method app, min+gzip |",
    "|---|---|---|---|---|",
  ];
  const base = r.bundleGzipBytes["protobuf only"] ?? 0;
  for (const k of TRANSPORTS) {
    const size = r.bundleGzipBytes[k];
    lines.push(
      `| ${k === "connect-web" ? "connect-web (Connect protocol)" : k === "grpc-web" ? "connect-web (gRPC-Web)" : "grpc-ws"} | ${f(r.unaryP50Us[k], ms, " ms")} | ${f(r.unaryRate[k], rate)} | ${f(r.streamRate[k], rate)} | ${size ? `${(size / 1024).toFixed(1)} KiB (${((size - base) / 1024).toFixed(1)} KiB over the generated code alone)` : "—"} |`,
    );
  }
  if (r.errors.length) lines.push("", `errors: ${r.errors.join("; ")}`);
  return lines.join("\n");
}

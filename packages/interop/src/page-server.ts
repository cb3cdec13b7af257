// A page for Chromium tests: `entry` (TypeScript, may import the repo's sources by absolute path)
// bundled for the browser with esbuild and served on 127.0.0.1 from a free port. Node only; its own
// entry (@grpc-ws/interop/page-server), so importing the package does not load esbuild.
import { build } from "esbuild";
import { createServer, type OutgoingHttpHeaders } from "node:http";
import { fileURLToPath } from "node:url";

export const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

export interface ServedPage {
  /** "http://127.0.0.1:PORT/" */
  url: string;
  /** "http://127.0.0.1:PORT" */
  origin: string;
  close(): Promise<void>;
}

/** Serves `/` (a page loading the bundle) with `pageHeaders` (e.g. a Set-Cookie) and `/app.js`. */
export async function servePage(entry: string, pageHeaders: OutgoingHttpHeaders = {}): Promise<ServedPage> {
  const bundle = await build({
    stdin: { contents: entry, resolveDir: repoRoot, loader: "ts" },
    bundle: true,
    platform: "browser",
    format: "iife",
    write: false,
    logLevel: "silent",
    tsconfig: `${repoRoot}tsconfig.json`,
  });
  const script = bundle.outputFiles[0]!.text;
  const server = createServer((req, res) => {
    if (req.url === "/app.js") {
      res.writeHead(200, { "content-type": "text/javascript" }).end(script);
    } else {
      res
        .writeHead(200, { ...pageHeaders, "content-type": "text/html" })
        .end(`<!doctype html><script src="/app.js"></script>`);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    url: `${origin}/`,
    origin,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

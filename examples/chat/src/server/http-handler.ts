import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import type { AttachmentStore } from "./backplane.js";

/** The only files served from the public folder: no path from the request reaches the file system. */
const STATIC_FILES: Record<string, { file: string; type: string }> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/index.html": { file: "index.html", type: "text/html; charset=utf-8" },
  "/styles.css": { file: "styles.css", type: "text/css; charset=utf-8" },
  "/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/app.js.map": { file: "app.js.map", type: "application/json" },
  "/favicon.svg": { file: "favicon.svg", type: "image/svg+xml" },
};

/** Types a browser may show inline; anything else is downloaded, so an upload cannot run script on this origin. */
const INLINE_TYPES = new Set(["image/png", "image/jpeg", "image/gif", "image/webp", "text/plain", "application/pdf"]);

const PAGE_CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'";

/** Serves the page, its script and the uploaded attachments. */
export function createHttpHandler(publicDir: string, attachments: AttachmentStore) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (req.method !== "GET" && req.method !== "HEAD") {
      send(res, 405, "text/plain; charset=utf-8", "method not allowed\n", { allow: "GET, HEAD" });
      return;
    }
    if (url.pathname === "/healthz") {
      send(res, 200, "text/plain; charset=utf-8", "ok\n");
      return;
    }
    const match = /^\/attachments\/([0-9a-f-]{36})(?:\/[^/]*)?$/.exec(url.pathname);
    if (match) {
      attachments.get(match[1]!).then(
        (file) => {
          if (!file) {
            send(res, 404, "text/plain; charset=utf-8", "attachment not found (it may have expired)\n");
            return;
          }
          const inline = INLINE_TYPES.has(file.contentType);
          send(res, 200, inline ? file.contentType : "application/octet-stream", file.bytes, {
            "content-disposition": `${inline ? "inline" : "attachment"}; filename*=UTF-8''${encodeURIComponent(file.fileName)}`,
            "content-security-policy": "default-src 'none'; sandbox",
            "cache-control": "private, max-age=3600",
          });
        },
        () =>
          send(res, 503, "text/plain; charset=utf-8", "attachments are unavailable right now (storage unreachable)\n"),
      );
      return;
    }
    const entry = STATIC_FILES[url.pathname];
    if (!entry) {
      send(res, 404, "text/plain; charset=utf-8", "not found\n");
      return;
    }
    readFile(join(publicDir, entry.file)).then(
      (body) => send(res, 200, entry.type, body, { "content-security-policy": PAGE_CSP, "cache-control": "no-cache" }),
      () => {
        const hint =
          entry.file === "app.js" ? "app.js is missing: run `npm run build -w examples/chat`\n" : "not found\n";
        send(res, 404, "text/plain; charset=utf-8", hint);
      },
    );
  };
}

function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: string | Uint8Array,
  headers: Record<string, string> = {},
): void {
  const bytes = typeof body === "string" ? Buffer.from(body) : body;
  res.writeHead(status, {
    "content-type": type,
    "content-length": String(bytes.byteLength),
    "x-content-type-options": "nosniff",
    ...headers,
  });
  res.end(res.req.method === "HEAD" ? undefined : bytes);
}

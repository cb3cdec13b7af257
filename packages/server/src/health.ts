import type { IncomingMessage, ServerResponse } from "node:http";
import { pathOf } from "./request-path.js";

/** Paths of the HTTP health endpoints. */
export interface HealthOptions {
  /** Liveness: 200 while the process serves HTTP, also while draining. Default "/healthz". */
  livePath?: string;
  /** Readiness: 200 while the bridge takes new connections, 503 from the moment `close()` starts. Default "/readyz". */
  readyPath?: string;
}

export const DEFAULT_LIVE_PATH = "/healthz";
export const DEFAULT_READY_PATH = "/readyz";

/** An HTTP request listener for your own server: answers the two health paths and returns true, or returns false for any other request. */
export type HealthHandler = (request: IncomingMessage, response: ServerResponse) => boolean;

/**
 * Health endpoints for a bridge, for a load balancer or Kubernetes probes. Readiness turns 503 as
 * soon as `close()` starts draining, so the balancer stops sending new sockets while calls in
 * flight finish; liveness stays 200 so the process is not killed during the drain.
 */
export function createHealthHandler(
  bridge: { readonly draining: boolean },
  options: HealthOptions = {},
): HealthHandler {
  const livePath = options.livePath ?? DEFAULT_LIVE_PATH;
  const readyPath = options.readyPath ?? DEFAULT_READY_PATH;
  return (request, response) => {
    const path = pathOf(request.url);
    if (path !== livePath && path !== readyPath) return false;
    if (request.method !== "GET" && request.method !== "HEAD") {
      response.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" });
      response.end("method not allowed\n");
      return true;
    }
    const ok = path === livePath || !bridge.draining;
    const body = ok ? "ok\n" : "draining\n";
    response.writeHead(ok ? 200 : 503, {
      "content-type": "text/plain",
      "cache-control": "no-store",
      "content-length": Buffer.byteLength(body),
    });
    response.end(request.method === "HEAD" ? undefined : body);
    return true;
  };
}

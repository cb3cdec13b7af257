import type { IncomingMessage } from "node:http";
import type { TLSSocket } from "node:tls";

/**
 * Which browser pages may open a connection (the `Origin` header of the upgrade). An upgrade
 * without `Origin` (Node, native apps: no browser, no ambient cookies) is never refused by it.
 *
 * - omitted / `"same-origin"`: only pages of the bridge's own origin (`Origin` equal to the
 *   scheme and `Host` of the upgrade request);
 * - a list: the same origin plus every listed one: exact origins (`"https://app.example.com"`,
 *   with the port when it is not the scheme's default) or a wildcard subdomain form
 *   (`"https://*.example.com"`: any subdomain at any depth, not `example.com` itself);
 * - a function: decides alone (return true to allow); it gets the `Origin` value and the request;
 * - `"any"`: every origin. Only for a bridge that authenticates with tokens it never finds in
 *   cookies, since every site's pages can then open sockets with the visitor's cookies.
 */
export type OriginPolicy =
  | "same-origin"
  | "any"
  | readonly string[]
  | ((origin: string, request: IncomingMessage) => boolean);

/** Returns the check for `policy`; throws TypeError for a malformed list entry (at startup, not per request). */
export function originCheck(policy: OriginPolicy | undefined): (origin: string, request: IncomingMessage) => boolean {
  if (policy === undefined || policy === "same-origin") return sameOrigin;
  if (policy === "any") return () => true;
  if (typeof policy === "function") return policy;
  if (!Array.isArray(policy))
    throw new TypeError(
      `grpc-ws: allowedOrigins must be "same-origin", "any", a list of origins or a function, got ${String(policy)}`,
    );
  const exact = new Set<string>();
  const wildcards: Array<{ scheme: string; suffix: string; port: string }> = [];
  for (const entry of policy as readonly string[]) {
    const wildcard = /^([a-z][a-z0-9+.-]*):\/\/\*\.([^/:]+)(:\d+)?$/i.exec(entry);
    if (wildcard) {
      wildcards.push({
        scheme: wildcard[1]!.toLowerCase(),
        suffix: "." + wildcard[2]!.toLowerCase(),
        port: wildcard[3] ?? "",
      });
      continue;
    }
    exact.add(normalizeOrigin(entry));
  }
  return (origin, request) => {
    if (sameOrigin(origin, request) || exact.has(origin.toLowerCase())) return true;
    const parsed = /^([a-z][a-z0-9+.-]*):\/\/([^/:]+)(:\d+)?$/i.exec(origin);
    if (!parsed) return false;
    const scheme = parsed[1]!.toLowerCase();
    const host = parsed[2]!.toLowerCase();
    const port = parsed[3] ?? "";
    return wildcards.some(
      (w) => w.scheme === scheme && w.port === port && host.endsWith(w.suffix) && host.length > w.suffix.length,
    );
  };
}

// An allowed origin as a browser sends it: scheme://host[:port], lowercase, no path, no default port.
function normalizeOrigin(entry: string): string {
  if (entry === "null") return entry; // sandboxed frames and file: pages, only when listed
  let url: URL;
  try {
    url = new URL(entry);
  } catch {
    throw new TypeError(
      `grpc-ws: allowedOrigins entry ${JSON.stringify(entry)} is not an origin such as "https://app.example.com"`,
    );
  }
  if (url.origin === "null" || url.pathname !== "/" || url.search || url.hash || entry.endsWith("/")) {
    throw new TypeError(
      `grpc-ws: allowedOrigins entry ${JSON.stringify(entry)} must be scheme://host[:port] with no path, such as "https://app.example.com"`,
    );
  }
  return url.origin;
}

/**
 * `Origin` names the scheme and host the upgrade request was sent to. A browser sets both `Host`
 * and `Origin` itself, so a page cannot forge this match; behind a proxy that rewrites `Host`,
 * list the public origin instead.
 */
function sameOrigin(origin: string, request: IncomingMessage): boolean {
  const host = request.headers.host;
  if (!host) return false;
  const encrypted = (request.socket as Partial<TLSSocket>).encrypted === true;
  const own = `${encrypted ? "https" : "http"}://${host}`.toLowerCase();
  const o = origin.toLowerCase();
  if (o === own) return true;
  // A proxy that terminates TLS forwards to a cleartext bridge: the page is https, the Host the same.
  return !encrypted && o === `https://${host.toLowerCase()}`;
}

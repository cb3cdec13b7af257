import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import type { PeerCertificate, TLSSocket } from "node:tls";
import { parse as parseCookies } from "cookie";
import { BEARER_SUBPROTOCOL_PREFIX, tokenFromSubprotocol } from "@grpc-ws/wire";

/** TLS facts of the connection the upgrade came on (an `https.Server`). */
export interface UpgradeTls {
  /** The TLS version, e.g. "TLSv1.3". */
  readonly protocol: string | null;
  /** True when the client presented a certificate that verified against the server's `ca` (mutual TLS). */
  readonly authorized: boolean;
  /** Why the client certificate did not verify, if it did not. */
  readonly authorizationError: string | undefined;
  /** The client's certificate (mutual TLS); undefined when it sent none. */
  readonly peerCertificate: PeerCertificate | undefined;
}

/**
 * The WebSocket upgrade request, as the authentication hook and the connection's calls see it.
 * The bearer subprotocol is taken out of `headers["sec-websocket-protocol"]` and `subprotocols`:
 * its token is only in `token`.
 */
export interface UpgradeRequest {
  /** Request headers (lowercase names), with the bearer subprotocol removed. */
  readonly headers: IncomingHttpHeaders;
  /** The `Cookie` header, parsed (HttpOnly cookies included: the browser sends them). */
  readonly cookies: Readonly<Record<string, string | undefined>>;
  /**
   * `http(s)://<Host header><path and query>`. The `Host` header is chosen by the client (a
   * browser sets it to the host it connects to, other clients to anything), so use the path and
   * query, not the host, for decisions.
   */
  readonly url: URL;
  /** The `Origin` header: sent by every browser, absent from Node and native clients. */
  readonly origin: string | undefined;
  /** The TCP peer's address (a proxy's, behind a proxy; its `x-forwarded-for` is in `headers`). */
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  /** Set when the upgrade came over TLS. */
  readonly tls: UpgradeTls | undefined;
  /** The subprotocols the client offered, in order, without the bearer one. */
  readonly subprotocols: readonly string[];
  /** The token of the `grpc-ws.bearer.<base64url>` subprotocol, decoded; undefined when none was offered. */
  readonly token: string | undefined;
}

/**
 * Reads the upgrade request once and strips the bearer subprotocol from the live request object
 * too, so that no later logger of `request.headers` (or of `rawHeaders`) can print the token.
 * Returns undefined for the token when a bearer entry is malformed (the hook then sees none).
 */
export function readUpgradeRequest(request: IncomingMessage): UpgradeRequest {
  const offered = splitProtocols(request.headers["sec-websocket-protocol"]);
  let token: string | undefined;
  const subprotocols: string[] = [];
  let hadBearer = false;
  for (const p of offered) {
    if (p.startsWith(BEARER_SUBPROTOCOL_PREFIX)) {
      hadBearer = true;
      token ??= tokenFromSubprotocol(p);
    } else {
      subprotocols.push(p);
    }
  }
  if (hadBearer) scrubProtocolHeader(request, subprotocols.join(", "));
  const socket = request.socket as Partial<TLSSocket> & { remoteAddress?: string; remotePort?: number };
  const encrypted = socket.encrypted === true;
  const host = request.headers.host ?? "localhost";
  let url: URL;
  try {
    url = new URL(request.url ?? "/", `${encrypted ? "https" : "http"}://${host}`);
  } catch {
    // A Host header that is not a host: keep the path, name no host.
    url = new URL(request.url ?? "/", `${encrypted ? "https" : "http"}://invalid-host.invalid`);
  }
  const cookieHeader = request.headers.cookie;
  return {
    headers: request.headers,
    cookies: cookieHeader ? parseCookies(cookieHeader) : {},
    url,
    origin: request.headers.origin,
    remoteAddress: socket.remoteAddress,
    remotePort: socket.remotePort,
    tls: encrypted ? tlsState(socket as TLSSocket) : undefined,
    subprotocols,
    token,
  };
}

/** The tokens of a `Sec-WebSocket-Protocol` header, trimmed, empty ones dropped. */
export function splitProtocols(header: string | undefined): string[] {
  if (!header) return [];
  return header
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
}

function scrubProtocolHeader(request: IncomingMessage, rest: string): void {
  request.headers["sec-websocket-protocol"] = rest;
  const raw = request.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === "sec-websocket-protocol") raw[i + 1] = rest;
  }
}

function tlsState(socket: TLSSocket): UpgradeTls {
  const cert = typeof socket.getPeerCertificate === "function" ? socket.getPeerCertificate() : undefined;
  const error = socket.authorizationError as unknown;
  return {
    protocol: typeof socket.getProtocol === "function" ? socket.getProtocol() : null,
    authorized: socket.authorized === true,
    authorizationError: error === undefined || error === null ? undefined : String(error),
    peerCertificate: cert && Object.keys(cert).length > 0 ? cert : undefined,
  };
}

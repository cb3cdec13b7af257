import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";

/** Who a connection is, for logs and hooks: the same `id` appears on every call made on it. */
export interface ConnectionInfo {
  /** Unique across bridge processes (a random prefix per bridge, then a counter): `"3f9a2c41-17"`. */
  readonly id: string;
  /** The TCP peer's address. Behind a proxy this is the proxy; its `X-Forwarded-For` is in the upgrade request. */
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** `Date.now()` when the WebSocket opened. */
  readonly openedAt: number;
}

/** What `onConnectionClose` reports. */
export interface ConnectionCloseInfo extends ConnectionInfo {
  /** Milliseconds the connection was open. */
  readonly durationMs: number;
  /** Calls served on it. */
  readonly calls: number;
  /** Why it closed: the WebSocket close code and reason, or what the bridge decided. */
  readonly reason: string;
}

/** Hands out connection ids for one bridge. */
export class ConnectionIds {
  private readonly prefix = randomBytes(4).toString("hex");
  private next = 1;

  create(request: IncomingMessage): ConnectionInfo {
    const socket = request.socket;
    return {
      id: `${this.prefix}-${this.next++}`,
      remoteAddress: socket.remoteAddress ?? "",
      remotePort: socket.remotePort ?? 0,
      openedAt: Date.now(),
    };
  }
}

/** `Host: example.com:8443` -> { address: "example.com", port: 8443 }; IPv6 brackets removed. */
export function hostOf(request: IncomingMessage): { address: string; port: number | undefined } {
  const host = request.headers.host ?? "";
  const match = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(host);
  const address = (match?.[1] ?? host).replace(/^\[|\]$/g, "");
  const port = match?.[2] !== undefined ? Number(match[2]) : undefined;
  return { address, port };
}

import type { IncomingMessage } from "node:http";

/**
 * Connection-level limits of a bridge (`limits` option). Every field has a default; 0 turns a
 * limit off. docs/SECURITY.md says which attack each one answers.
 */
export interface ConnectionLimits {
  /** Open and upgrading WebSocket connections of the whole bridge. Above it an upgrade gets HTTP 503. Default 10000. */
  maxConnections?: number;
  /**
   * Open and upgrading connections from one client address (see `clientAddress`). Above it an
   * upgrade gets HTTP 503. Default 256. Behind a reverse proxy every client has the proxy's
   * address: pass `clientAddress`, or 0 to turn the limit off.
   */
  maxConnectionsPerAddress?: number;
  /** The address a connection counts against. Default: the TCP peer's address (`request.socket.remoteAddress`). */
  clientAddress?: (request: IncomingMessage) => string | undefined;
  /** A connection without an open call for this long gets GOAWAY NO_ERROR and is closed (1000). Default 300000 (5 min). */
  idleTimeoutMs?: number;
  /**
   * `listen()` only: a TCP connection must have sent its complete upgrade request within this
   * long, or it is dropped (also sets Node's `headersTimeout` and `requestTimeout`). Default 10000.
   */
  handshakeTimeoutMs?: number;
  /**
   * A connection whose socket has held more than `socketHighWaterMark` unwritten bytes, with no
   * byte written out, for this long is dropped (its calls end UNAVAILABLE). Default 15000.
   */
  slowReaderTimeoutMs?: number;
}

type NumericLimits = Required<Omit<ConnectionLimits, "clientAddress">>;
export type ResolvedLimits = NumericLimits & Pick<ConnectionLimits, "clientAddress">;

export const DEFAULT_LIMITS: Readonly<NumericLimits> = Object.freeze({
  maxConnections: 10_000,
  maxConnectionsPerAddress: 256,
  idleTimeoutMs: 300_000,
  handshakeTimeoutMs: 10_000,
  slowReaderTimeoutMs: 15_000,
});

/** Defaults for missing (or undefined) fields; RangeError for a negative or non-integer value. */
export function resolveLimits(limits: ConnectionLimits = {}): ResolvedLimits {
  const out: ResolvedLimits = { ...DEFAULT_LIMITS, clientAddress: limits.clientAddress };
  for (const key of Object.keys(DEFAULT_LIMITS) as Array<keyof NumericLimits>) {
    const value = limits[key];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < 0)
      throw new RangeError(`limits.${key} must be a non-negative integer (got ${String(value)})`);
    out[key] = value;
  }
  return out;
}

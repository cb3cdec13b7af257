import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { createContextKey, createContextValues, type ContextValues } from "@connectrpc/connect";
import type { UpgradeRequest } from "./upgrade-request.js";

/**
 * What every call knows about the connection it came on: who authenticated it and the upgrade
 * request. In-process handlers and interceptors read it with `ctx.values.get(connectionKey)`;
 * the gateway's `onRequest` and both `onCallEnd` hooks get it as `connection`.
 */
export interface ConnectionInfo<Identity = unknown> {
  /** Unique across bridge processes (a random prefix per bridge, then a counter): `"3f9a2c41-17"`. The same on every call of the connection. */
  readonly id: string;
  /** `Date.now()` when the WebSocket opened. */
  readonly openedAt: number;
  /** What the `authenticate` hook returned as `identity`; undefined without a hook (or when it returned none). */
  readonly identity: Identity | undefined;
  /** Epoch milliseconds when the connection's credentials expire (from `authenticate`), if they do. */
  readonly expiresAt: number | undefined;
  /**
   * The upgrade request: headers, cookies, URL, remote address, TLS state. The bearer token is
   * not here: only the `authenticate` hook sees it, so it cannot reach logs or upstream metadata
   * by accident (return it in `identity` to forward it on purpose).
   */
  readonly request: Omit<UpgradeRequest, "token">;
}

/**
 * The context key of the connection's {@link ConnectionInfo}, set on every in-process call's
 * `ctx.values` (and so on `req.contextValues` in interceptors).
 */
export const connectionKey = createContextKey<ConnectionInfo | undefined>(undefined, {
  description: "grpc-ws connection",
});

/** The connection's {@link ConnectionInfo} from a call's context values; throws when there is none (not a grpc-ws call). */
export function connectionOf<Identity = unknown>(values: ContextValues): ConnectionInfo<Identity> {
  const info = values.get(connectionKey);
  if (!info) throw new Error("grpc-ws: these context values belong to no grpc-ws connection");
  return info as ConnectionInfo<Identity>;
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

  create(): string {
    return `${this.prefix}-${this.next++}`;
  }
}

/** The info of a connection whose WebSocket opens now. */
export function connectionInfo(
  id: string,
  request: UpgradeRequest,
  identity: unknown,
  expiresAt: number | undefined,
): ConnectionInfo {
  const { token: _token, ...rest } = request;
  return { id, openedAt: Date.now(), identity, expiresAt, request: rest };
}

/** The bridge's `contextValues` option, as both front ends call it. */
export type ContextValuesHook = (request: IncomingMessage, connection: ConnectionInfo) => ContextValues;

/** Context values of one in-process call: the user's, plus the connection's info under `connectionKey`. */
export function callContextValues(
  hook: ContextValuesHook | undefined,
  request: IncomingMessage,
  info: ConnectionInfo,
): ContextValues {
  const values = hook?.(request, info) ?? createContextValues();
  values.set(connectionKey, info);
  return values;
}

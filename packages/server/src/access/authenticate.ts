import { Code, ConnectError } from "@connectrpc/connect";
import type { UpgradeRequest } from "./upgrade-request.js";

/** What an authentication hook returns for a connection it lets in. */
export interface Authenticated<Identity = unknown> {
  /** Who the connection is: visible to every call as `ConnectionInfo.identity`. */
  identity?: Identity;
  /**
   * When the credentials stop being valid (a `Date` or epoch milliseconds). The bridge then sends
   * GOAWAY ("credentials expired"): calls in flight may finish within `drainTimeoutMs`, new calls
   * go to a new connection, which authenticates again. A time already past refuses the upgrade
   * with `Unauthenticated` ("credentials expired"). Omitted: never.
   */
  expiresAt?: Date | number;
}

/** Arguments of the authentication hook: the upgrade request and a signal that aborts on timeout or when the client goes away. */
export interface AuthenticateContext extends UpgradeRequest {
  readonly signal: AbortSignal;
}

/**
 * Decides whether an upgrade becomes a connection. Return (or resolve) to let it in, with an
 * identity or without; throw (or reject) a `ConnectError` to refuse it with that code
 * (`Unauthenticated` -> HTTP 401, `PermissionDenied` -> 403, ...). Anything else thrown refuses
 * with `Internal` (HTTP 500); a hook slower than `authenticateTimeoutMs` refuses with
 * `Unavailable` (HTTP 503).
 */
export type AuthenticateHook<Identity = unknown> = (
  request: AuthenticateContext,
) => Authenticated<Identity> | void | Promise<Authenticated<Identity> | void>;

/** How one run of the hook ended. */
export type AuthOutcome =
  | { readonly ok: true; readonly result: Authenticated }
  | {
      readonly ok: false;
      /** The refusal as the client will see it. */
      readonly error: ConnectError;
      /** "refused": the hook refused; "failed": it threw something else; "timeout": it took too long. */
      readonly kind: "refused" | "failed" | "timeout";
      /** What the hook threw, for the server's logs only. */
      readonly cause?: unknown;
    };

/**
 * Runs the hook with a time limit. When `clientGone` aborts first (the client left, the bridge
 * shuts down) the hook's signal aborts and this resolves at once; the caller ignores the outcome.
 */
export async function runAuthenticate(
  hook: AuthenticateHook,
  request: UpgradeRequest,
  timeoutMs: number,
  clientGone: AbortSignal,
): Promise<AuthOutcome> {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onGone = (): void => undefined;
  const abandoned = new Promise<AuthOutcome>((resolve) => {
    onGone = () => {
      controller.abort(clientGone.reason);
      resolve({ ok: false, error: new ConnectError("the upgrade was abandoned", Code.Unavailable), kind: "timeout" });
    };
    clientGone.addEventListener("abort", onGone, { once: true });
  });
  const timeout = new Promise<AuthOutcome>((resolve) => {
    timer = setTimeout(() => {
      const error = new ConnectError(`authentication did not finish within ${timeoutMs} ms`, Code.Unavailable);
      controller.abort(error);
      resolve({ ok: false, error, kind: "timeout" });
    }, timeoutMs);
  });
  const run = (async (): Promise<AuthOutcome> => {
    try {
      const result = await hook({ ...request, signal: controller.signal });
      // A returned error must not let the connection in: it counts as thrown.
      if (result instanceof Error) throw result;
      return { ok: true, result: result ?? {} };
    } catch (e) {
      if (e instanceof ConnectError) return { ok: false, error: e, kind: "refused" };
      // The hook's own failure: the client learns nothing about it but that the server failed.
      return {
        ok: false,
        error: new ConnectError("authentication failed on the server", Code.Internal),
        kind: "failed",
        cause: e,
      };
    }
  })();
  try {
    return await Promise.race([run, timeout, abandoned]);
  } finally {
    clearTimeout(timer);
    clientGone.removeEventListener("abort", onGone);
  }
}

/** Epoch milliseconds of `expiresAt`, or undefined; throws TypeError for an invalid value. */
export function expiryTime(expiresAt: Date | number | undefined): number | undefined {
  if (expiresAt === undefined) return undefined;
  const at = expiresAt instanceof Date ? expiresAt.getTime() : expiresAt;
  if (typeof at !== "number" || Number.isNaN(at))
    throw new TypeError(`grpc-ws: authenticate returned an invalid expiresAt (${String(expiresAt)})`);
  return at;
}

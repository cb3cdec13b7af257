import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeToHttpStatus } from "@connectrpc/connect/protocol-connect";
import { refusalCloseCode, type Status } from "@grpc-ws/wire";
import { checkRange } from "@grpc-ws/wire/internal";
import type { WebSocket } from "ws";
import { expiryTime, runAuthenticate, type AuthOutcome, type AuthenticateHook } from "./authenticate.js";
import { ConnectionIds, connectionInfo, type ConnectionInfo } from "./connection-info.js";
import { originCheck, type OriginPolicy } from "./origin.js";
import { logRefusal, refuseAfterUpgrade, refuseWithHttp, type RefusalInfo } from "./refusal.js";
import { readUpgradeRequest, type UpgradeRequest } from "./upgrade-request.js";
import { pathOf } from "../request-path.js";

/** The bridge options this gate reads. */
export interface AccessOptions {
  allowedOrigins?: OriginPolicy;
  authenticate?: AuthenticateHook;
  authenticateTimeoutMs?: number;
  onRefused?: (info: RefusalInfo) => void;
}

export const DEFAULT_AUTHENTICATE_TIMEOUT_MS = 5_000;

/** Upgrades the socket to a WebSocket and hands it over. */
export type Upgrade = (then: (ws: WebSocket) => void) => void;

/**
 * Decides for each upgrade, before the bridge makes it a connection: the origin policy, then the
 * authentication hook. Refusals go to the client (HTTP status, or a close code for a browser) and
 * to `onRefused`; every socket it holds is answered or destroyed.
 */
export class AccessControl {
  private readonly originAllowed: (origin: string, request: IncomingMessage) => boolean;
  private readonly timeoutMs: number;
  private readonly report: (info: RefusalInfo) => void;
  /** Upgrades whose hook is still running: aborted when the bridge shuts down. */
  private readonly pending = new Set<AbortController>();
  private readonly ids = new ConnectionIds();

  constructor(
    private readonly options: AccessOptions,
    private readonly closeHandshakeMs: number,
    /** Told of every refusal before `onRefused` (the bridge's telemetry). */
    observe?: (info: RefusalInfo) => void,
  ) {
    this.originAllowed = originCheck(options.allowedOrigins);
    this.timeoutMs = options.authenticateTimeoutMs ?? DEFAULT_AUTHENTICATE_TIMEOUT_MS;
    checkRange("authenticateTimeoutMs", this.timeoutMs, 1);
    const onRefused = options.onRefused ?? logRefusal;
    this.report = (info) => {
      observe?.(info);
      try {
        onRefused(info);
      } catch {
        // A logging hook must not keep the socket from being answered.
      }
    };
  }

  /** Runs the checks; calls `open` with the connection's info once the upgrade is allowed. */
  admit(
    request: IncomingMessage,
    socket: Duplex,
    upgrade: Upgrade,
    open: (ws: WebSocket, info: ConnectionInfo) => void,
  ): void {
    const origin = request.headers.origin;
    if (origin !== undefined && !this.originAllowed(origin, request)) {
      const message = `origin ${origin} is not allowed to connect`;
      refuseWithHttp(socket, 403, `grpc-ws: ${message}\n`);
      this.report({
        reason: "origin",
        code: Code.PermissionDenied,
        message,
        httpStatus: 403,
        closeCode: undefined,
        origin,
        remoteAddress: request.socket.remoteAddress,
        path: pathOf(request.url),
      });
      return;
    }
    const upgradeRequest = readUpgradeRequest(request);
    const hook = this.options.authenticate;
    if (!hook)
      return upgrade((ws) => open(ws, connectionInfo(this.ids.create(), upgradeRequest, undefined, undefined)));
    const gone = new AbortController();
    const onClose = (): void => gone.abort(new Error("the client closed the connection during authentication"));
    socket.once("close", onClose);
    this.pending.add(gone);
    void runAuthenticate(hook, upgradeRequest, this.timeoutMs, gone.signal).then((outcome) => {
      this.pending.delete(gone);
      socket.off("close", onClose);
      if (!socket.writable) return void socket.destroy();
      if (gone.signal.aborted) return refuseWithHttp(socket, 503, "grpc-ws: the server is shutting down\n");
      this.decide(outcome, upgradeRequest, request, socket, upgrade, open);
    });
  }

  /** Bridge shutdown: upgrades still authenticating are answered 503 now (their hooks' signals abort). */
  close(): void {
    for (const gone of this.pending) gone.abort(new Error("server shutting down"));
    this.pending.clear();
  }

  private decide(
    outcome: AuthOutcome,
    upgradeRequest: UpgradeRequest,
    request: IncomingMessage,
    socket: Duplex,
    upgrade: Upgrade,
    open: (ws: WebSocket, info: ConnectionInfo) => void,
  ): void {
    if (outcome.ok) {
      let expiresAt: number | undefined;
      try {
        expiresAt = expiryTime(outcome.result.expiresAt);
      } catch (error) {
        return this.refuse(
          {
            ok: false,
            kind: "failed",
            error: new ConnectError("authentication failed on the server", Code.Internal),
            cause: error,
          },
          request,
          socket,
          upgrade,
        );
      }
      if (expiresAt !== undefined && expiresAt <= Date.now()) {
        return this.refuse(
          { ok: false, kind: "refused", error: new ConnectError("credentials expired", Code.Unauthenticated) },
          request,
          socket,
          upgrade,
        );
      }
      const identity = outcome.result.identity;
      return upgrade((ws) => open(ws, connectionInfo(this.ids.create(), upgradeRequest, identity, expiresAt)));
    }
    this.refuse(outcome, request, socket, upgrade);
  }

  // A browser (it always sends Origin) cannot read an HTTP status, so it gets the upgrade and a close code.
  private refuse(
    outcome: Extract<AuthOutcome, { ok: false }>,
    request: IncomingMessage,
    socket: Duplex,
    upgrade: Upgrade,
  ): void {
    const { error } = outcome;
    const origin = request.headers.origin;
    const browser = origin !== undefined;
    // Connect's mapping: Unauthenticated 401, PermissionDenied 403, ...
    const httpStatus = browser ? undefined : codeToHttpStatus(error.code);
    const reason =
      outcome.kind !== "refused"
        ? outcome.kind
        : error.code === Code.Unauthenticated
          ? "unauthenticated"
          : error.code === Code.PermissionDenied
            ? "permission-denied"
            : "refused";
    if (httpStatus === undefined) upgrade((ws) => refuseAfterUpgrade(ws, error, this.closeHandshakeMs));
    else refuseWithHttp(socket, httpStatus, `grpc-ws: ${error.rawMessage}\n`, error);
    this.report({
      reason,
      code: error.code,
      message: error.rawMessage,
      httpStatus,
      closeCode: browser ? refusalCloseCode(error.code as number as Status) : undefined,
      origin,
      remoteAddress: request.socket.remoteAddress,
      path: pathOf(request.url),
      ...(outcome.cause !== undefined ? { error: outcome.cause } : {}),
    });
  }
}

import { Code, ConnectError } from "@connectrpc/connect";
import { codeFromHttpStatus } from "@connectrpc/connect/protocol-grpc";
import { SUBPROTOCOL, bearerSubprotocol, decodeStatusMessage, statusFromRefusalClose } from "@grpc-ws/wire";

/**
 * A bearer token for the server's `authenticate` hook: a string, or a function called before every
 * connection attempt (so a reconnect after the server ended an expired connection gets a fresh one).
 */
export type TokenSource = string | (() => string | Promise<string>);

/**
 * The subprotocols to offer: `grpc-ws.v1`, and the token as `grpc-ws.bearer.<base64url>` when
 * there is one. Synchronous unless `token` is a function that returns a promise; a function that
 * throws or rejects gives a rejected promise with a `ConnectError` (its own code, else `Unauthenticated`).
 */
export function offeredProtocols(token: TokenSource | undefined): string[] | Promise<string[]> {
  if (token === undefined) return [SUBPROTOCOL];
  if (typeof token === "string") return withToken(token);
  let value: string | Promise<string>;
  try {
    value = token();
  } catch (error) {
    return Promise.reject(tokenError(error));
  }
  if (typeof value === "string") return withToken(value);
  return Promise.resolve(value).then(withToken, (error: unknown) => Promise.reject(tokenError(error)));
}

function withToken(token: unknown): string[] {
  if (typeof token !== "string")
    throw new ConnectError(`the token function returned ${typeof token}, not a string`, Code.Unauthenticated);
  // An empty token means "none": an anonymous attempt the server may refuse itself.
  return token.length === 0 ? [SUBPROTOCOL] : [SUBPROTOCOL, bearerSubprotocol(token)];
}

function tokenError(error: unknown): ConnectError {
  if (error instanceof ConnectError) return error;
  return new ConnectError(
    `the token function failed: ${error instanceof Error ? error.message : String(error)}`,
    Code.Unauthenticated,
    undefined,
    undefined,
    error,
  );
}

/** The refusal a close code 4001..4016 reports (a browser's view of a refused upgrade), or undefined. */
export function refusalFromClose(code: number, reason: string): ConnectError | undefined {
  const status = statusFromRefusalClose(code);
  if (status === undefined) return undefined;
  return new ConnectError(reason || "the server refused the connection", status as number as Code);
}

/**
 * The refusal an HTTP response to the upgrade reports (Node, where the status is visible):
 * `grpc-status`/`grpc-message` headers when the bridge sent them, else 401 and 403 by their
 * status. Undefined for other responses (a proxy's 502, a wrong path's 404): those are failed
 * attempts like any other.
 */
export function refusalFromHttp(
  status: number,
  headers: Readonly<Record<string, string | string[] | undefined>>,
): ConnectError | undefined {
  const grpcStatus = Number(headers["grpc-status"]);
  const grpcMessage = headers["grpc-message"];
  if (Number.isInteger(grpcStatus) && grpcStatus > 0 && grpcStatus <= 16) {
    const message = typeof grpcMessage === "string" ? decodeStatusMessage(grpcMessage) : `HTTP ${status}`;
    return new ConnectError(message, grpcStatus as Code);
  }
  if (status === 401 || status === 403)
    return new ConnectError(`the server refused the connection (HTTP ${status})`, codeFromHttpStatus(status));
  return undefined;
}

/** `ws`'s view of an HTTP response that was not an upgrade. */
interface UnexpectedResponse {
  statusCode?: number;
  headers: Record<string, string | string[] | undefined>;
}

interface EventEmitterSocket {
  on(event: "unexpected-response", listener: (request: unknown, response: UnexpectedResponse) => void): unknown;
  terminate(): void;
}

/**
 * In Node (`ws`), reads the HTTP response of a refused upgrade: `onResponse` gets the refusal
 * (or undefined and the status for any other response), then the attempt is aborted, as `ws`
 * would do itself without the listener. Browsers expose no status: nothing to watch there.
 */
export function watchUpgradeResponse(
  socket: object,
  onResponse: (refusal: ConnectError | undefined, status: number) => void,
): void {
  const ws = socket as Partial<EventEmitterSocket>;
  if (typeof ws.on !== "function" || typeof ws.terminate !== "function") return;
  ws.on("unexpected-response", (_request, response) => {
    const status = response.statusCode ?? 0;
    onResponse(refusalFromHttp(status, response.headers), status);
    ws.terminate!();
  });
}

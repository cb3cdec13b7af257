import { STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import type { Code, ConnectError } from "@connectrpc/connect";
import { encodeStatusMessage, refusalCloseCode, refusalCloseReason, type Status } from "@grpc-ws/wire";
import type { WebSocket } from "ws";

/** One upgrade the bridge refused, for the server's logs (`onRefused`). It never holds the bearer token. */
export interface RefusalInfo {
  /**
   * - "origin": a browser page of an origin that `allowedOrigins` does not allow;
   * - "unauthenticated"/"permission-denied"/"refused": the authentication hook refused (by code);
   * - "failed": the hook threw something other than a `ConnectError`;
   * - "timeout": the hook took longer than `authenticateTimeoutMs`.
   */
  readonly reason: "origin" | "unauthenticated" | "permission-denied" | "refused" | "failed" | "timeout";
  /** The code the client was given. */
  readonly code: Code;
  /** The message the client was given. */
  readonly message: string;
  /** The HTTP status of the refusal, or undefined when it went to a browser as a close code after the upgrade. */
  readonly httpStatus: number | undefined;
  /** The WebSocket close code (4000 + code) of a refusal sent after the upgrade. */
  readonly closeCode: number | undefined;
  /** The upgrade's `Origin` header. */
  readonly origin: string | undefined;
  readonly remoteAddress: string | undefined;
  /** The request path (query string left out: it may hold secrets). */
  readonly path: string;
  /** What the hook threw ("failed"), for the server's own logs. */
  readonly error?: unknown;
}

/** Without an `onRefused` option every refusal is written to `console.warn`, so none goes unnoticed. */
export function logRefusal(info: RefusalInfo): void {
  const from = `${info.remoteAddress ?? "unknown address"}${info.origin !== undefined ? `, Origin ${info.origin}` : ""}`;
  const how = info.httpStatus !== undefined ? `HTTP ${info.httpStatus}` : `close code ${info.closeCode}`;
  const cause = info.error instanceof Error ? ` (${info.error.message})` : "";
  console.warn(
    `grpc-ws: refused a WebSocket upgrade to ${info.path} from ${from}: ${info.reason}, ${how}: ${info.message}${cause}`,
  );
}

/**
 * Answers an upgrade with an HTTP error before any WebSocket exists. With `error`, the response
 * also carries `grpc-status` and `grpc-message` headers, which the Node client reads.
 */
export function refuseWithHttp(socket: Duplex, status: number, body: string, error?: ConnectError): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const grpc = error ? `grpc-status: ${error.code}\r\ngrpc-message: ${encodeStatusMessage(error.rawMessage)}\r\n` : "";
  const response =
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}\r\nConnection: close\r\n${grpc}` +
    `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  socket.end(response, () => socket.destroy());
}

/**
 * The refusal a browser can read (PROTOCOL.md 1.3): the upgrade was accepted, nothing is read
 * from the socket, and it is closed at once with 4000 + code and the message as the reason.
 * A peer that does not answer the close is cut after `handshakeMs`.
 */
export function refuseAfterUpgrade(ws: WebSocket, error: ConnectError, handshakeMs: number): void {
  const cut = setTimeout(() => ws.terminate(), handshakeMs);
  cut.unref();
  ws.once("close", () => clearTimeout(cut));
  ws.on("error", () => ws.terminate());
  ws.close(refusalCloseCode(error.code as number as Status), refusalCloseReason(error.rawMessage));
}

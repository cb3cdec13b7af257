import { decodeBase64, encodeBase64 } from "./headers.js";
import { Status } from "./status.js";

// Access control on the opening handshake (PROTOCOL.md section 1.3): the bearer token a browser
// offers as a subprotocol, and the close codes that tell a browser why its upgrade was refused.

/** A subprotocol starting with this carries a bearer token: `grpc-ws.bearer.<base64url of the token's UTF-8>`. */
export const BEARER_SUBPROTOCOL_PREFIX = "grpc-ws.bearer.";

/** Close codes 4000 + gRPC status (4001..4016): the server refused the connection with that status. */
export const REFUSAL_CLOSE_CODE_BASE = 4000;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** The subprotocol that carries `token` (any string; unpadded base64url keeps it a valid header token). */
export function bearerSubprotocol(token: string): string {
  if (token.length === 0) throw new TypeError("grpc-ws: a bearer token must not be empty");
  const b64 = encodeBase64(encoder.encode(token));
  return BEARER_SUBPROTOCOL_PREFIX + b64.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The token of a bearer subprotocol; undefined when `protocol` is not one or is malformed. */
export function tokenFromSubprotocol(protocol: string): string | undefined {
  if (!protocol.startsWith(BEARER_SUBPROTOCOL_PREFIX)) return undefined;
  const encoded = protocol.slice(BEARER_SUBPROTOCOL_PREFIX.length);
  // Standard base64's `+` and `/` are not valid in a header token; only base64url is accepted.
  if (encoded.length === 0 || !/^[A-Za-z0-9_-]+$/.test(encoded)) return undefined;
  const bytes = decodeBase64(encoded);
  if (!bytes || bytes.length === 0) return undefined;
  try {
    return decoder.decode(bytes);
  } catch {
    return undefined;
  }
}

/** The WebSocket close code for a connection refused with `status` (not OK). */
export function refusalCloseCode(status: Status): number {
  return REFUSAL_CLOSE_CODE_BASE + status;
}

/** The status of a refusal close code, or undefined for any other close code. */
export function statusFromRefusalClose(code: number): Status | undefined {
  const status = code - REFUSAL_CLOSE_CODE_BASE;
  return status >= Status.CANCELLED && status <= Status.UNAUTHENTICATED ? (status as Status) : undefined;
}

/** `message` cut to the 123 bytes of UTF-8 a WebSocket close reason may hold (whole characters only). */
export function refusalCloseReason(message: string): string {
  const { read } = encoder.encodeInto(message, new Uint8Array(123));
  return message.slice(0, read);
}

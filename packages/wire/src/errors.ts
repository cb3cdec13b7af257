import { ErrorCode, ErrorCodeName } from "./constants.js";

/**
 * A violation of the wire protocol by the peer. `code` is the RST_STREAM / GOAWAY error code
 * to answer with; `streamId` is set when only that stream is affected.
 */
export class ProtocolError extends Error {
  override readonly name = "ProtocolError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly streamId = 0,
  ) {
    super(`${ErrorCodeName[code] ?? code}: ${message}`);
  }
}

/** Why a session ended: `code` is the wire error code, `remote` whether the peer said so. */
export class SessionClosedError extends Error {
  override readonly name = "SessionClosedError";
  constructor(
    message: string,
    readonly code: number = ErrorCode.NO_ERROR,
    readonly remote = false,
  ) {
    super(message);
  }
}

const decoder = new TextDecoder();

/** `text` cut to at most `maxBytes` of UTF-8 (ending in "..." when cut), never inside a character. */
export function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length <= maxBytes) return text;
  return decoder.decode(bytes.subarray(0, maxBytes - 3)).replace(/\uFFFD$/, "") + "...";
}

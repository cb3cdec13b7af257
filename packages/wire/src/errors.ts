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

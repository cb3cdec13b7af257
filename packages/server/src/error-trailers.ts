import { Code, ConnectError } from "@connectrpc/connect";
import { GRPC_STATUS_DETAILS, RESERVED_NAMES, Status, createTrailers, type Metadata } from "@grpc-ws/wire";
import { decodeBase64, headersToMetadata } from "@grpc-ws/wire/internal";
import { appendErrorMetadata, encodeStatusDetails } from "./status-details.js";

/** What a client sees for a handler error that is not a ConnectError: no internals, no stack. */
export const UNKNOWN_ERROR_MESSAGE = "the handler failed with an unexpected error";

/** The ConnectError a handler's failure becomes on the wire. */
export function toConnectError(error: unknown): ConnectError {
  if (error instanceof ConnectError) return error;
  return new ConnectError(UNKNOWN_ERROR_MESSAGE, Code.Unknown);
}

/**
 * TRAILERS for a failed call: code, message, `grpc-status-details-bin` (a google.rpc.Status with
 * the error's details), the error's metadata and the handler's response trailers.
 */
export function errorTrailers(error: ConnectError, responseTrailer: Headers | undefined): Metadata {
  const h = new Headers(responseTrailer);
  appendErrorMetadata(h, error);
  // Without details of its own, a status details value the handler set in its trailers stays.
  const set = h.get(GRPC_STATUS_DETAILS);
  const details = encodeStatusDetails(error) ?? (set === null ? undefined : decodeBase64(set));
  return createTrailers(
    error.code as number as Status,
    error.rawMessage,
    headersToMetadata(h, RESERVED_NAMES),
    details,
  );
}

/** TRAILERS for a call that succeeded; `responseTrailer` undefined: the handler set none. */
export function okTrailers(responseTrailer: Headers | undefined): Metadata {
  return createTrailers(Status.OK, "", responseTrailer && headersToMetadata(responseTrailer, RESERVED_NAMES));
}

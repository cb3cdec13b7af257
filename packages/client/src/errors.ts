import { Code, ConnectError } from "@connectrpc/connect";
import { GRPC_STATUS, GRPC_STATUS_DETAILS, Status, getMetadata, parseTrailers, type Metadata } from "@grpc-ws/wire";
import { metadataToHeaders, statusOfReset } from "@grpc-ws/wire/internal";
import { decodeStatusDetails } from "./status-details.js";

/** Why a stream was reset, as a ConnectError: a lost connection, a message limit, or the peer's RST_STREAM. */
export function resetError(code: number, error: Error): ConnectError {
  return new ConnectError(error.message, statusOfReset(code, error) as number as Code, undefined, undefined, error);
}

/**
 * The error a TRAILERS block reports, or undefined for OK. Metadata holds the trailers and the
 * response headers, as in Connect's gRPC transport; `grpc-status-details-bin` becomes `details`.
 */
export function trailerError(trailers: Metadata, header: Headers): ConnectError | undefined {
  const rawStatus = getMetadata(trailers, GRPC_STATUS);
  if (rawStatus === String(Status.OK)) return undefined;
  const metadata = metadataToHeaders(trailers);
  header.forEach((value, key) => metadata.append(key, value));
  const details = getMetadata(trailers, GRPC_STATUS_DETAILS);
  if (details instanceof Uint8Array) {
    try {
      // As Connect's gRPC transport: the details' status wins over grpc-status and grpc-message.
      const status = decodeStatusDetails(details);
      if (status.code !== 0) {
        const error = new ConnectError(status.message, status.code as Code, metadata);
        error.details = status.details;
        error.isWireError = true;
        return error;
      }
    } catch {
      // Malformed details: fall back to grpc-status and grpc-message below.
    }
  }
  const status = parseTrailers(trailers);
  if (status.code === Status.OK) return undefined;
  const error = new ConnectError(status.message, status.code as number as Code, metadata);
  error.isWireError = true;
  return error;
}

/** The error for a call that was aborted through its signal. */
export function abortError(signal: AbortSignal): ConnectError {
  return ConnectError.from(signal.reason ?? "operation was aborted", Code.Canceled);
}

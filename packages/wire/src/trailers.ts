import { getMetadata, type Metadata } from "./metadata.js";
import { Status, parseStatus } from "./status.js";
import { decodeStatusMessage, encodeStatusMessage } from "./status-message.js";

export const GRPC_STATUS = "grpc-status";
export const GRPC_MESSAGE = "grpc-message";
export const GRPC_STATUS_DETAILS = "grpc-status-details-bin";
export const GRPC_TIMEOUT = "grpc-timeout";

/** Names a peer may not set as custom metadata: the protocol fills them in itself. */
export const RESERVED_NAMES: ReadonlySet<string> = new Set([
  GRPC_STATUS,
  GRPC_MESSAGE,
  GRPC_STATUS_DETAILS,
  GRPC_TIMEOUT,
  "content-type",
  "te",
  "grpc-encoding",
  "grpc-accept-encoding",
]);

export interface CallStatus {
  code: Status;
  message: string;
  /** Raw `grpc-status-details-bin` (a serialized google.rpc.Status), when present. */
  details?: Uint8Array;
  /** Trailer metadata other than the status fields. */
  metadata: Metadata;
}

/** Builds the TRAILERS block for a status: grpc-status, grpc-message (percent-encoded), details, metadata. */
export function createTrailers(code: Status, message = "", metadata: Metadata = [], details?: Uint8Array): Metadata {
  const out: Metadata = [[GRPC_STATUS, String(code)]];
  if (message) out.push([GRPC_MESSAGE, encodeStatusMessage(message)]);
  if (details) out.push([GRPC_STATUS_DETAILS, details]);
  for (const entry of metadata) if (!RESERVED_NAMES.has(entry[0])) out.push(entry);
  return out;
}

/** Reads a TRAILERS block. A missing or malformed grpc-status is UNKNOWN with a message that says so. */
export function parseTrailers(trailers: Metadata): CallStatus {
  const rawStatus = getMetadata(trailers, GRPC_STATUS);
  const rawMessage = getMetadata(trailers, GRPC_MESSAGE);
  const details = getMetadata(trailers, GRPC_STATUS_DETAILS);
  const metadata = trailers.filter(
    ([name]) => name !== GRPC_STATUS && name !== GRPC_MESSAGE && name !== GRPC_STATUS_DETAILS,
  );
  if (typeof rawStatus !== "string") {
    return { code: Status.UNKNOWN, message: "trailers carry no grpc-status", metadata };
  }
  const code = parseStatus(rawStatus);
  let message = typeof rawMessage === "string" ? decodeStatusMessage(rawMessage) : "";
  if (code === Status.UNKNOWN && rawStatus !== String(Status.UNKNOWN))
    message ||= `invalid grpc-status ${JSON.stringify(rawStatus)}`;
  return { code, message, details: details instanceof Uint8Array ? details : undefined, metadata };
}

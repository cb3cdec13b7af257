import { ErrorCode, namesByValue } from "./constants.js";

/** gRPC status codes (the same numbers as Connect's `Code`, plus OK). */
export const Status = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type Status = (typeof Status)[keyof typeof Status];

export const StatusName: Record<number, string> = namesByValue(Status);

/** Parses a `grpc-status` value: decimal 0-16. Anything else is UNKNOWN, as gRPC clients do. */
export function parseStatus(value: string | undefined): Status {
  if (value === undefined || !/^\d{1,2}$/.test(value)) return Status.UNKNOWN;
  const code = Number(value);
  return code <= 16 ? (code as Status) : Status.UNKNOWN;
}

/**
 * The status of a call ended by RST_STREAM with this error code, for either side and for an
 * upstream HTTP/2 reset alike (grpc/grpc doc/PROTOCOL-HTTP2.md, "Errors").
 */
export function statusFromErrorCode(code: number): Status {
  switch (code) {
    case ErrorCode.REFUSED_STREAM:
      return Status.UNAVAILABLE;
    case ErrorCode.CANCEL:
      return Status.CANCELLED;
    case ErrorCode.ENHANCE_YOUR_CALM:
      return Status.RESOURCE_EXHAUSTED;
    case ErrorCode.INADEQUATE_SECURITY:
      return Status.PERMISSION_DENIED;
    default:
      // NO_ERROR (reset before trailers), PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, ...
      return Status.INTERNAL;
  }
}

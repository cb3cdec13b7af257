import { MessageError } from "./message.js";
import { SessionClosedError } from "./errors.js";
import { Status, statusFromErrorCode } from "./status.js";

/**
 * The status of a call whose stream ended through `StreamEvents.onReset(code, error)`, for
 * client and server alike: a lost connection is UNAVAILABLE, a broken message limit has its own
 * status, and a peer's RST_STREAM maps as gRPC maps HTTP/2 error codes.
 */
export function statusOfReset(code: number, error: Error): Status {
  if (error instanceof SessionClosedError) return Status.UNAVAILABLE;
  if (error instanceof MessageError) return error.status;
  return statusFromErrorCode(code);
}

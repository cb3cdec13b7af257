import { Status } from "@grpc-ws/wire";

/**
 * The status of a response whose HTTP status is not 200 and that carries no grpc-status
 * (grpc/grpc doc/http-grpc-status-mapping.md).
 */
export function statusFromHttp(httpStatus: number): Status {
  switch (httpStatus) {
    case 400:
      return Status.INTERNAL;
    case 401:
      return Status.UNAUTHENTICATED;
    case 403:
      return Status.PERMISSION_DENIED;
    case 404:
      return Status.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return Status.UNAVAILABLE;
    default:
      return Status.UNKNOWN;
  }
}

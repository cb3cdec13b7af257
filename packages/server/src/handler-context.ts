import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { createContextValues, type ContextValues, type HandlerContext } from "@connectrpc/connect";

/**
 * The reason a call's signal carries when the call completed normally: an `AbortError`, as
 * Connect's `abort()` without a reason gives, but built once. Building a DOMException per call
 * (its stack capture) was the largest single cost of ending a unary call.
 */
export const CALL_COMPLETE: DOMException = new DOMException("This operation was aborted", "AbortError");

export interface CallHandlerContextInit {
  service: DescService;
  method: DescMethod;
  protocolName: string;
  url: string;
  /**
   * The call's own signal. Its owner aborts it when the call ends: with the error on a failure,
   * cancel or deadline, with `CALL_COMPLETE` on success (Connect's contract: the signal fires
   * once the call is complete, whatever the outcome).
   */
  signal: AbortSignal;
  /** Milliseconds left until the call's deadline, undefined without one (the call owns the one timer). */
  timeoutMs: () => number | undefined;
  contextValues?: ContextValues;
}

/**
 * A Connect `HandlerContext` for one call that reuses the call's signal and deadline instead
 * of creating its own: no AbortController, no deadline signal, no linked listeners per call
 * (Connect's `createHandlerContext` makes two controllers and links them to the request signal).
 * The header objects are fresh and filled in place by the caller.
 */
export function createCallHandlerContext(init: CallHandlerContextInit): HandlerContext {
  return {
    service: init.service,
    method: init.method,
    protocolName: init.protocolName,
    requestMethod: "POST",
    url: init.url,
    signal: init.signal,
    timeoutMs: init.timeoutMs,
    requestHeader: new Headers(),
    responseHeader: new Headers(),
    responseTrailer: new Headers(),
    values: init.contextValues ?? createContextValues(),
  };
}

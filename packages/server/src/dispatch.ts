import { Code, ConnectError } from "@connectrpc/connect";
import { GRPC_TIMEOUT, Status, getMetadata, parseTimeout, type Metadata } from "@grpc-ws/wire";
import type { CallForwarder, CallStream } from "./call.js";
import { InProcessCall, type CallEnvironment } from "./in-process-call.js";
import type { BridgeRouter } from "./router.js";
import { ServerCall, type CallOwner } from "./server-call.js";

/** Where calls go: the same for every front end (grpc-ws v1, grpc-websockets). */
export interface CallTargets {
  readonly router: BridgeRouter;
  readonly forwarder: CallForwarder | undefined;
}

/**
 * Starts one call whatever front end received it: arms its deadline and hands it to an in-process
 * handler, the upstream forwarder, or answers UNIMPLEMENTED. `track` sees the call before it
 * starts (it may end at once).
 */
export function startCall(
  stream: CallStream,
  path: string,
  headers: Metadata,
  env: CallOwner & CallEnvironment,
  targets: CallTargets,
  track: (call: ServerCall) => void,
): ServerCall {
  const startedAt = performance.now();
  const rawTimeout = getMetadata(headers, GRPC_TIMEOUT);
  const timeoutMs = typeof rawTimeout === "string" ? parseTimeout(rawTimeout) : undefined;
  const call = new ServerCall(stream, path, headers, timeoutMs, startedAt, env);
  track(call);
  // A throw from here would reach the socket's event handler: keep it to this call.
  try {
    dispatch(call, rawTimeout, env, targets);
  } catch (error) {
    const message = "the server failed to start the call";
    call.fail(Status.INTERNAL, message, { error, abort: new ConnectError(message, Code.Internal) });
  }
  return call;
}

function dispatch(call: ServerCall, rawTimeout: string | Uint8Array | undefined, env: CallEnvironment, targets: CallTargets): void {
  const { path, timeoutMs } = call;
  if (rawTimeout !== undefined && timeoutMs === undefined) {
    return call.fail(Status.INVALID_ARGUMENT, `invalid grpc-timeout ${JSON.stringify(rawTimeout)}: expected 1-8 digits and a unit (H, M, S, m, u, n)`);
  }
  const route = targets.router.routes.get(path);
  if (route) {
    if (timeoutMs !== undefined && timeoutMs > route.maxTimeoutMs) {
      return call.fail(Status.INVALID_ARGUMENT, `grpc-timeout of ${timeoutMs} ms exceeds the server's maximum of ${route.maxTimeoutMs} ms`);
    }
    return new InProcessCall(call, route, env).start();
  }
  const forwarder = targets.forwarder;
  if (forwarder?.handles(path)) {
    call.forwarded = true;
    return forwarder.forward(call);
  }
  call.fail(Status.UNIMPLEMENTED, targets.router.unimplementedMessage(path));
}

import { DEFAULT_SETTINGS, Status, createTrailers } from "@grpc-ws/wire";
import type { CallForwarder, IncomingCall } from "../call.js";
import { isRouter, serviceOf, targetUrl, type UpstreamConfig, type UpstreamHooks, type UpstreamTarget } from "./config.js";
import { UpstreamConnection } from "./connection.js";
import { ForwardedCall, type UpstreamRoute } from "./forward.js";

/**
 * The gateway: forwards calls to upstream gRPC servers over HTTP/2 (Node's `http2`), one shared
 * connection per upstream. The bridge creates it from its `upstream` option.
 */
export function createUpstream(config: UpstreamConfig): CallForwarder {
  const connections = new Map<string, UpstreamConnection>();
  const calls = new Set<ForwardedCall>();
  let closed = false;

  function routeFor(target: UpstreamTarget, routerHooks?: UpstreamHooks): UpstreamRoute {
    const url = targetUrl(target.target);
    const key = `${url.href}\n${target.socketPath ?? ""}`;
    let connection = connections.get(key);
    if (!connection) connections.set(key, (connection = new UpstreamConnection(url, target)));
    const maxMessageSize = target.maxMessageSize ?? DEFAULT_SETTINGS.maxMessageSize;
    return { connection, hooks: routerHooks ? [routerHooks, target] : [target], maxMessageSize };
  }

  let resolve: (path: string) => UpstreamRoute | undefined;
  if (isRouter(config)) {
    // Routes are cached per target object or URL string, so a router that builds targets on the fly still shares connections.
    const byObject = new WeakMap<object, UpstreamRoute>();
    const byString = new Map<string, UpstreamRoute>();
    resolve = (path) => {
      const t = config.route(path);
      if (t === undefined) return undefined;
      if (typeof t === "string") {
        let route = byString.get(t);
        if (!route) byString.set(t, (route = routeFor({ target: t }, config)));
        return route;
      }
      let route = byObject.get(t);
      if (!route) byObject.set(t, (route = routeFor(t instanceof URL ? { target: t } : t, config)));
      return route;
    };
  } else {
    const targets: readonly UpstreamTarget[] =
      typeof config === "string" || config instanceof URL ? [{ target: config }] : Array.isArray(config) ? config : [config as UpstreamTarget];
    // Built up front so a bad URL fails at startup, not on the first call.
    const entries = targets.map((t) => ({ services: t.services ? new Set(t.services) : undefined, route: routeFor(t) }));
    resolve = (path) => {
      const service = serviceOf(path);
      for (const e of entries) if (!e.services || (service !== undefined && e.services.has(service))) return e.route;
      return undefined;
    };
  }

  // handles() and forward() come in pairs for one path, synchronously: resolve once, remember it.
  let lastPath: string | undefined;
  let lastRoute: UpstreamRoute | undefined;
  let lastError: unknown;

  return {
    handles(path) {
      lastPath = path;
      lastError = undefined;
      try {
        lastRoute = resolve(path);
      } catch (error) {
        // Taken, so that forward() can answer INTERNAL rather than the bridge UNIMPLEMENTED.
        lastRoute = undefined;
        lastError = error ?? new Error("route() threw");
        return true;
      }
      return lastRoute !== undefined;
    },

    forward(call: IncomingCall) {
      let route: UpstreamRoute | undefined;
      let error: unknown;
      if (call.path === lastPath) {
        route = lastRoute;
        error = lastError;
      } else {
        try {
          route = resolve(call.path);
        } catch (e) {
          error = e ?? new Error("route() threw");
        }
      }
      lastPath = lastRoute = lastError = undefined;
      if (closed) {
        call.sendTrailers(createTrailers(Status.UNAVAILABLE, "gateway is shutting down"));
        return;
      }
      if (error !== undefined) {
        call.sendTrailers(createTrailers(Status.INTERNAL, `upstream routing failed for ${call.path}: ${error instanceof Error ? error.message : String(error)}`));
        return;
      }
      if (!route) {
        call.sendTrailers(createTrailers(Status.UNIMPLEMENTED, `no upstream for ${call.path}`));
        return;
      }
      const forwarded = new ForwardedCall(call, route, (c) => calls.delete(c));
      calls.add(forwarded);
      forwarded.start();
    },

    async close() {
      closed = true;
      for (const call of [...calls]) call.shutdown();
      await Promise.all([...connections.values()].map((c) => c.close()));
    },
  };
}

import { DEFAULT_SETTINGS, Status, parseMethodPath } from "@grpc-ws/wire";
import type { ServerCall } from "../server-call.js";
import { isRouter, targetUrl, type UpstreamConfig, type UpstreamHooks, type UpstreamTarget } from "./config.js";
import { UpstreamConnection } from "./connection.js";
import { ForwardedCall, type UpstreamRoute } from "./forward.js";

/** Serves the calls that no in-process method takes. */
export interface Forwarder {
  /**
   * The one routing decision for `path`: a function that serves the call (and ends it exactly
   * once), or undefined when no upstream takes `path` (the bridge answers UNIMPLEMENTED).
   */
  route(path: string): ((call: ServerCall) => void) | undefined;
  /** Bridge shutdown: ends the calls still open and releases upstream connections. */
  close(): Promise<void>;
}

/**
 * The gateway: forwards calls to upstream gRPC servers over HTTP/2 (Node's `http2`), one shared
 * connection per upstream. The bridge creates it from its `upstream` option.
 */
export function createUpstream(config: UpstreamConfig): Forwarder {
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
      typeof config === "string" || config instanceof URL
        ? [{ target: config }]
        : Array.isArray(config)
          ? config
          : [config as UpstreamTarget];
    // Built up front so a bad URL fails at startup, not on the first call.
    const entries = targets.map((t) => ({
      services: t.services ? new Set(t.services) : undefined,
      route: routeFor(t),
    }));
    resolve = (path) => {
      const service = parseMethodPath(path)?.service;
      for (const e of entries) if (!e.services || (service !== undefined && e.services.has(service))) return e.route;
      return undefined;
    };
  }

  return {
    route(path) {
      let route: UpstreamRoute | undefined;
      let error: unknown;
      try {
        route = resolve(path);
      } catch (e) {
        // Taken, so that the call gets INTERNAL rather than the bridge's UNIMPLEMENTED.
        error = e ?? new Error("route() threw");
      }
      if (route === undefined && error === undefined) return undefined;
      return (call) => {
        if (closed) return call.end({ code: Status.UNAVAILABLE, message: "gateway is shutting down" });
        if (route === undefined) {
          const message = `upstream routing failed for ${call.path}: ${error instanceof Error ? error.message : String(error)}`;
          return call.end({ code: Status.INTERNAL, message });
        }
        const forwarded = new ForwardedCall(call, route, (c) => calls.delete(c));
        calls.add(forwarded);
        forwarded.start();
      };
    },

    async close() {
      closed = true;
      for (const call of [...calls]) call.shutdown();
      await Promise.all([...connections.values()].map((c) => c.close()));
    },
  };
}

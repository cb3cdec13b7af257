import type { BinaryReadOptions, BinaryWriteOptions, DescMethod, DescService } from "@bufbuild/protobuf";
import type { ConnectRouter, HandlerContext, Interceptor, MethodImpl, ServiceImpl } from "@connectrpc/connect";
import type { UniversalHandler } from "@connectrpc/connect/protocol";
import { methodPath, parseMethodPath } from "@grpc-ws/wire";
import { intercept } from "./interceptors.js";

/** A user function of any of the four kinds; the dispatcher picks the calling convention by `method.methodKind`. */
export type AnyMethodImpl = (input: unknown, context: unknown) => unknown;

/** One registered in-process method. */
export interface Route {
  readonly method: DescMethod;
  readonly service: DescService;
  /** The user's function, or it wrapped in the route's interceptors when there are any. */
  readonly impl: AnyMethodImpl;
  readonly readOptions: Partial<BinaryReadOptions> | undefined;
  readonly writeOptions: Partial<BinaryWriteOptions> | undefined;
  /** Largest response message this method sends, before the client's own limit applies. */
  readonly writeMaxBytes: number;
  /** Longest `grpc-timeout` accepted; larger ones are INVALID_ARGUMENT (Connect's `maxTimeoutMs`). */
  readonly maxTimeoutMs: number;
  /** Connect's `requestGate`: runs before the request is read, and may end the call by throwing. */
  readonly requestGate: ((context: HandlerContext) => void | Promise<void>) | undefined;
}

/** The options of `router.service()` / `router.rpc()`, from the public `ConnectRouter` (Connect marks `UniversalHandlerOptions` internal). */
export type RouteOptions = NonNullable<Parameters<ConnectRouter["service"]>[2]>;

/**
 * A `ConnectRouter` that records the user's functions instead of building Connect's
 * UniversalHandlers: the bridge calls them directly (through the interceptors, when a route has
 * any). `handlers` therefore stays empty.
 */
export class BridgeRouter implements ConnectRouter {
  readonly handlers: UniversalHandler[] = [];
  /** By "/package.Service/Method". */
  readonly routes = new Map<string, Route>();
  /** Every registered service by type name, including methods it leaves unimplemented. */
  readonly services = new Map<string, DescService>();

  constructor(
    private readonly readOptions: Partial<BinaryReadOptions> | undefined,
    private readonly writeOptions: Partial<BinaryWriteOptions> | undefined,
    /** The bridge's own interceptors: outside those of a service or rpc. */
    private readonly interceptors: readonly Interceptor[] = [],
  ) {}

  service = <T extends DescService>(
    service: T,
    implementation: Partial<ServiceImpl<T>>,
    options?: RouteOptions,
  ): this => {
    this.services.set(service.typeName, service);
    const impls = implementation as Record<string, unknown>;
    for (const method of service.methods) {
      const fn = impls[method.localName];
      // Methods left out stay unregistered: the dispatcher answers UNIMPLEMENTED (or forwards upstream).
      if (typeof fn === "function") this.add(method, (fn as AnyMethodImpl).bind(implementation), options);
    }
    return this;
  };

  rpc = <M extends DescMethod>(method: M, impl: MethodImpl<M>, options?: RouteOptions): this => {
    if (!this.services.has(method.parent.typeName)) this.services.set(method.parent.typeName, method.parent);
    this.add(method, impl as AnyMethodImpl, options);
    return this;
  };

  private add(method: DescMethod, impl: AnyMethodImpl, options: RouteOptions | undefined): void {
    const binary = options?.binaryOptions;
    // Unlike Connect, where a service's interceptors replace the router's, both apply: a service
    // that adds logging must not drop the bridge's authentication.
    const interceptors = options?.interceptors?.length
      ? [...this.interceptors, ...options.interceptors]
      : this.interceptors;
    this.routes.set(methodPath(method.parent.typeName, method.name), {
      method,
      service: method.parent,
      impl: interceptors.length > 0 ? intercept(method, impl, interceptors) : impl,
      readOptions: binary ? { ...this.readOptions, ...binary } : this.readOptions,
      writeOptions: binary ? { ...this.writeOptions, ...binary } : this.writeOptions,
      writeMaxBytes: options?.writeMaxBytes ?? Infinity,
      maxTimeoutMs: options?.maxTimeoutMs ?? Infinity,
      requestGate: options?.requestGate,
    });
  }

  /** Why no in-process method serves `path`, as an UNIMPLEMENTED message. */
  unimplementedMessage(path: string): string {
    const parsed = parseMethodPath(path);
    if (parsed === undefined) return `malformed method path ${JSON.stringify(path)}`;
    const { service: serviceName, method: methodName } = parsed;
    const service = this.services.get(serviceName);
    if (!service) return `unknown service ${serviceName}`;
    if (service.methods.some((m) => m.name === methodName)) return `${serviceName}.${methodName} is not implemented`;
    return `unknown method ${methodName} for service ${serviceName}`;
  }
}

/** A gRPC method path, "/package.Service/Method", split into its two names. */
export interface MethodPath {
  /** "package.Service". */
  readonly service: string;
  /** "Method". */
  readonly method: string;
}

/** "/package.Service/Method" for a service's type name and a method name. */
export function methodPath(service: string, method: string): string {
  return `/${service}/${method}`;
}

/** The two names of "/package.Service/Method", or undefined when `path` has no such shape. */
export function parseMethodPath(path: string): MethodPath | undefined {
  const slash = path.indexOf("/", 1);
  if (path.charCodeAt(0) !== 0x2f || slash < 2) return undefined;
  return { service: path.slice(1, slash), method: path.slice(slash + 1) };
}

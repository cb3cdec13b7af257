import type { Metadata } from "./metadata.js";

// Names shared by the client's and the server's OpenTelemetry instrumentation (no dependency on
// OpenTelemetry here: the carrier below is structurally a TextMapGetter/TextMapSetter).

/** `rpc.system` of every span and measurement. */
export const RPC_SYSTEM = "grpc";

/** "/pkg.Service/Method" -> service and method; a malformed path keeps the whole path as the method. */
export function splitMethodPath(path: string): { service: string; method: string } {
  const slash = path.lastIndexOf("/");
  if (slash <= 1 || path.charCodeAt(0) !== 0x2f) return { service: "", method: path };
  return { service: path.slice(1, slash), method: path.slice(slash + 1) };
}

/**
 * Reads and writes text entries of wire metadata for an OpenTelemetry propagator
 * (`traceparent`, `tracestate`, `baggage`). Setting a name replaces every earlier entry of it, so
 * a forwarded call carries the bridge's span, not the caller's.
 */
export const metadataCarrier = {
  get(carrier: Metadata, key: string): string | undefined {
    for (const [name, value] of carrier) if (name === key && typeof value === "string") return value;
    return undefined;
  },
  keys(carrier: Metadata): string[] {
    return carrier.map(([name]) => name);
  },
  set(carrier: Metadata, key: string, value: string): void {
    for (let i = carrier.length - 1; i >= 0; i--) if (carrier[i]![0] === key) carrier.splice(i, 1);
    carrier.push([key, value]);
  },
};

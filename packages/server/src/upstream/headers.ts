import type { OutgoingHttpHeaders } from "node:http2";
import {
  GRPC_MESSAGE,
  GRPC_TIMEOUT,
  encodeStatusMessage,
  formatTimeout,
  invalidName,
  isBinaryName,
  type Metadata,
} from "@grpc-ws/wire";
import { decodeBase64, encodeBase64 } from "@grpc-ws/wire/internal";

// Connection-specific headers (RFC 9113 section 8.2.2) plus the ones the gateway sets itself.
// Node's http2 refuses to send the connection-specific ones at all.
const REQUEST_SKIP: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "transfer-encoding",
  "upgrade",
  "host",
  "http2-settings",
  "te",
  "content-type",
  "content-length",
  GRPC_TIMEOUT,
]);

// What describes the upstream hop rather than the call.
const RESPONSE_SKIP: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "transfer-encoding",
  "upgrade",
  "te",
  "content-type",
  "content-length",
  "grpc-accept-encoding",
]);

function isHopByHop(name: string, skip: ReadonlySet<string>): boolean {
  return name.charCodeAt(0) === 0x3a || skip.has(name) || name.startsWith("proxy-");
}

export interface RequestTarget {
  scheme: "http" | "https";
  authority: string;
}

/**
 * The HTTP/2 request headers of a forwarded call: pseudo-headers, gRPC's fixed headers, the
 * remaining deadline, and the client's metadata without hop-by-hop names (`-bin` values go as
 * unpadded base64, as PROTOCOL-HTTP2.md asks).
 */
export function requestHeaders(
  path: string,
  metadata: Metadata,
  target: RequestTarget,
  timeoutMs: number | undefined,
): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {
    ":method": "POST",
    ":scheme": target.scheme,
    ":path": path,
    ":authority": target.authority,
    "content-type": "application/grpc",
    te: "trailers",
    // Overwritten by the client's own grpc-accept-encoding below, if it sent one.
    "grpc-accept-encoding": "identity",
  };
  if (timeoutMs !== undefined) out[GRPC_TIMEOUT] = formatTimeout(Math.max(timeoutMs, 0.001));
  for (const [name, value] of metadata) {
    if (isHopByHop(name, REQUEST_SKIP)) continue;
    const text = typeof value === "string" ? value : encodeBase64(value).replace(/=+$/, "");
    // The client's encodings go upstream as they are: compressed messages pass through unchanged.
    if (name === "grpc-accept-encoding") {
      out[name] = text;
      continue;
    }
    const prev = out[name];
    if (prev === undefined) out[name] = text;
    else if (Array.isArray(prev)) prev.push(text);
    else out[name] = [String(prev), text];
  }
  return out;
}

function isPrintable(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

/**
 * Wire metadata from a received header block (`rawHeaders`: name, value, name, value, ...):
 * pseudo and hop-by-hop headers dropped, `-bin` values base64-decoded to raw bytes. Entries the
 * wire cannot carry (a name outside gRPC's alphabet, a `-bin` value that is not base64, a
 * non-ASCII text value) are dropped, except `grpc-message`, which is re-encoded.
 */
export function responseMetadata(rawHeaders: readonly string[]): Metadata {
  const out: Metadata = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const value = rawHeaders[i + 1]!;
    if (isHopByHop(name, RESPONSE_SKIP) || invalidName(name)) continue;
    if (isBinaryName(name)) {
      // A peer may also send several values joined by commas in one field.
      for (const part of value.split(",")) {
        const bytes = decodeBase64(part.trim());
        if (bytes) out.push([name, bytes]);
      }
    } else if (isPrintable(value)) {
      out.push([name, value]);
    } else if (name === GRPC_MESSAGE) {
      // Not percent-encoded as the spec asks: Node read the bytes as latin1, so they are UTF-8 again here.
      out.push([name, encodeStatusMessage(Buffer.from(value, "latin1").toString("utf8"))]);
    }
  }
  return out;
}

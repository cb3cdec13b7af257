import { isBinaryName, type Metadata } from "./metadata.js";

// Web `Headers` (Connect's representation) carry `-bin` values as base64 text; the wire carries
// them raw. These two functions are the only place that converts, for client and server alike.

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_INDEX = new Int16Array(128).fill(-1);
for (let i = 0; i < 64; i++) B64_INDEX[B64.charCodeAt(i)] = i;
B64_INDEX["-".charCodeAt(0)] = 62; // base64url, which some peers send
B64_INDEX["_".charCodeAt(0)] = 63;

export function encodeBase64(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += B64[n >> 18]! + B64[(n >> 12) & 63]! + B64[(n >> 6) & 63]! + B64[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += B64[n >> 18]! + B64[(n >> 12) & 63]! + "==";
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += B64[n >> 18]! + B64[(n >> 12) & 63]! + B64[(n >> 6) & 63]! + "=";
  }
  return out;
}

/** Decodes base64 or base64url, padded or not. Returns undefined for anything else. */
export function decodeBase64(text: string): Uint8Array | undefined {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 0x3d) end--;
  if (end % 4 === 1) return undefined;
  const out = new Uint8Array(Math.floor((end * 3) / 4));
  let bits = 0;
  let acc = 0;
  let o = 0;
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? B64_INDEX[c]! : -1;
    if (v < 0) return undefined;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  return out;
}

/**
 * Converts Connect-style `Headers` to wire metadata: `-bin` values are base64-decoded (a comma
 * joins repeated values, so each part is decoded), names in `skip` are left out.
 * Throws TypeError for a `-bin` value that is not base64.
 */
export function headersToMetadata(headers: Headers, skip?: ReadonlySet<string>): Metadata {
  const out: Metadata = [];
  headers.forEach((value, name) => {
    if (skip?.has(name)) return;
    if (isBinaryName(name)) {
      for (const part of value.split(",")) {
        const bytes = decodeBase64(part.trim());
        if (!bytes) throw new TypeError(`header ${name} is not valid base64`);
        out.push([name, bytes]);
      }
    } else {
      out.push([name, value]);
    }
  });
  return out;
}

/**
 * Converts wire metadata to Connect-style `Headers` (`-bin` values base64-encoded). Pseudo-headers
 * (a leading `:`) are left out: `Headers` rejects such names, and a peer may send them.
 */
export function metadataToHeaders(
  metadata: Metadata,
  skip?: ReadonlySet<string>,
  into: Headers = new Headers(),
): Headers {
  for (const [name, value] of metadata) {
    if (name.charCodeAt(0) === 0x3a || skip?.has(name)) continue;
    into.append(name, typeof value === "string" ? value : encodeBase64(value));
  }
  return into;
}

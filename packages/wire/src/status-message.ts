const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: false });
const HEX = "0123456789ABCDEF";

/** Percent-encodes a status message for `grpc-message`: UTF-8, with bytes outside 0x20-0x7E and '%' escaped. */
export function encodeStatusMessage(message: string): string {
  let plain = true;
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return message;
  let out = "";
  for (const b of encoder.encode(message)) {
    out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${HEX[b >> 4]}${HEX[b & 15]}`;
  }
  return out;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/**
 * Decodes a `grpc-message` value. Never throws: a '%' not followed by two hex digits is kept
 * literally, and invalid UTF-8 becomes U+FFFD, as the gRPC spec asks.
 */
export function decodeStatusMessage(value: string): string {
  if (!value.includes("%")) return value;
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x25 && i + 2 < value.length) {
      const hi = hexValue(value.charCodeAt(i + 1));
      const lo = hexValue(value.charCodeAt(i + 2));
      if (hi >= 0 && lo >= 0) {
        bytes.push((hi << 4) | lo);
        i += 2;
        continue;
      }
    }
    if (c < 0x80) {
      bytes.push(c);
    } else {
      const point = value.codePointAt(i)!;
      if (point > 0xffff) i++;
      bytes.push(...encoder.encode(String.fromCodePoint(point)));
    }
  }
  return decoder.decode(new Uint8Array(bytes));
}

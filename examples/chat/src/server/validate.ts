import { Code, ConnectError } from "@connectrpc/connect";
import { formatBytes } from "../shared/format.js";
import { LIMITS, NAME_PATTERN } from "../shared/limits.js";

/** Trims and checks a member or room name; INVALID_ARGUMENT with a message fit for the UI. */
export function checkName(raw: string, what: "name" | "room"): string {
  const name = raw.normalize("NFC").trim();
  if (name.length === 0) throw new ConnectError(`${what} must not be empty`, Code.InvalidArgument);
  if (name.length > LIMITS.maxNameLength) {
    throw new ConnectError(`${what} must be at most ${LIMITS.maxNameLength} characters`, Code.InvalidArgument);
  }
  if (!NAME_PATTERN.test(name)) {
    throw new ConnectError(`${what} may contain letters, digits, spaces, ".", "-" and "_" only`, Code.InvalidArgument);
  }
  return name;
}

/** Checks a chat message; surrounding whitespace is dropped. */
export function checkText(raw: string): string {
  const text = raw.trim();
  if (text.length === 0) throw new ConnectError("message must not be empty", Code.InvalidArgument);
  if (text.length > LIMITS.maxTextLength) {
    throw new ConnectError(
      `message is ${text.length} characters long; the limit is ${LIMITS.maxTextLength}`,
      Code.InvalidArgument,
    );
  }
  return text;
}

/** Checks a declared or received attachment size. */
export function checkAttachmentSize(size: number): void {
  if (size > LIMITS.maxAttachmentBytes) {
    // Rounded sizes can read the same ("1.0 MiB; the limit is 1.0 MiB"): then say the bytes.
    const [shown, limit] = [formatBytes(size), formatBytes(LIMITS.maxAttachmentBytes)];
    const exact = shown === limit ? ` (${size} bytes, ${size - LIMITS.maxAttachmentBytes} over)` : "";
    throw new ConnectError(`file is too large: ${shown}${exact}; the limit is ${limit}`, Code.ResourceExhausted);
  }
}

/** Keeps a file name displayable and safe in a URL path and a Content-Disposition header. */
export function cleanFileName(raw: string): string {
  const base = raw.split(/[\\/]/).pop() ?? "";
  // Control characters and quotes would break headers; the rest is percent-encoded in URLs.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point
  const unsafe = /[\u0000-\u001f\u007f"]/g;
  const cleaned = base.replace(unsafe, "").trim().slice(0, LIMITS.maxFileNameLength);
  return cleaned.length > 0 && cleaned !== "." && cleaned !== ".." ? cleaned : "file";
}

/** A MIME type of the plain `type/subtype` form, or application/octet-stream. */
export function cleanContentType(raw: string): string {
  const t = raw.trim().toLowerCase();
  return /^[a-z0-9][a-z0-9.+-]*\/[a-z0-9][a-z0-9.+-]*$/.test(t) && t.length <= 100 ? t : "application/octet-stream";
}

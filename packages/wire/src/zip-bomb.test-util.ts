import * as zlib from "node:zlib";
import { expect } from "vitest";
import { MessageError } from "./message.js";

/**
 * A gzip stream that inflates to `mib` MiB of zeros from about 1 KB per MiB. Built from
 * sync-flushed deflate blocks: after the first MiB, every further MiB of zeros compresses to the
 * same bytes, so they are repeated instead of compressed (seconds saved per GiB). The stream has
 * no final block and no trailer: a decompressor that does not stop at its limit inflates all of
 * it and then fails on the truncation, not with RESOURCE_EXHAUSTED.
 */
export async function zipBomb(mib: number): Promise<Uint8Array> {
  const z = zlib.createGzip({ level: 9 });
  const parts: Buffer[] = [];
  let current: Buffer[] = [];
  z.on("data", (d: Buffer) => current.push(d));
  const zero = Buffer.alloc(1 << 20);
  for (let i = 0; i < 2; i++) {
    await new Promise<void>((resolve) => {
      z.write(zero);
      z.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve());
    });
    parts.push(Buffer.concat(current));
    current = [];
  }
  z.destroy();
  const [first, repeat] = parts as [Buffer, Buffer];
  const out = Buffer.allocUnsafe(first.length + repeat.length * (mib - 1));
  first.copy(out, 0);
  for (let i = 1; i < mib; i++) repeat.copy(out, first.length + repeat.length * (i - 1));
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** The process's peak resident memory in bytes so far. */
export function maxRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}

// vitest's deep equality walks typed arrays element by element: compare bytes directly.
export const same = (a: Uint8Array, b: Uint8Array): boolean =>
  Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));

/** The status of the MessageError `p` rejects with; fails the test when it resolves or rejects otherwise. */
export async function statusOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(MessageError);
    return (e as MessageError).status;
  }
  throw new Error("expected a MessageError");
}

import { promisify } from "node:util";
import * as zlib from "node:zlib";
import { MessageError, Status, type Compression } from "@grpc-ws/wire";
import { overLimit } from "@grpc-ws/wire/internal";

const gzipAsync = promisify(zlib.gzip);
const gunzipAsync = promisify(zlib.gunzip);

/**
 * gzip with Node's zlib (on the libuv thread pool, off the event loop). `maxOutputLength` makes
 * zlib stop inflating as soon as the output passes the limit, so a zip bomb costs at most the
 * limit plus one 16 KiB output chunk.
 */
export const gzipNode: Compression = {
  name: "gzip",
  async compress(bytes) {
    return view(await gzipAsync(bytes));
  },
  async decompress(bytes, readMaxBytes) {
    if (bytes.length === 0) return new Uint8Array(0);
    // zlib rejects a maxOutputLength of 0; nothing non-empty fits then anyway.
    if (readMaxBytes < 1) {
      const out = await gunzip(bytes, 1, readMaxBytes);
      if (out.length > 0) throw overLimit(readMaxBytes);
      return out;
    }
    return gunzip(bytes, readMaxBytes, readMaxBytes);
  },
};

async function gunzip(bytes: Uint8Array, maxOutputLength: number, limit: number): Promise<Uint8Array> {
  try {
    return view(await gunzipAsync(bytes, { maxOutputLength }));
  } catch (e) {
    if ((e as { code?: unknown }).code === "ERR_BUFFER_TOO_LARGE") throw overLimit(limit);
    throw new MessageError(Status.INTERNAL, `invalid gzip message: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function view(buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}

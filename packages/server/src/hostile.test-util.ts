// Helpers of the hostile-peer suite: raw frames built by hand, a well-behaved client that keeps
// calling while an attack runs, and the process's memory and file descriptors.
import { readdirSync } from "node:fs";
import v8 from "node:v8";
import vm from "node:vm";
import {
  FRAME_HEADER_SIZE,
  FrameType,
  PATH,
  MESSAGE_PREFIX_SIZE,
  Status,
  writeMessagePrefix,
  writeMetadata,
  metadataSize,
} from "@grpc-ws/wire";
import type { TestClient } from "./test-client.test-util.js";

export { concat } from "./test-client.test-util.js";

v8.setFlagsFromString("--expose-gc");
const collect = vm.runInNewContext("gc") as () => void;

/** One frame: the 9-byte header and `payload`. */
export function frame(
  type: number,
  flags: number,
  streamId: number,
  payload: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_SIZE + payload.length);
  out[0] = payload.length >>> 16;
  out[1] = payload.length >>> 8;
  out[2] = payload.length;
  out[3] = type;
  out[4] = flags;
  new DataView(out.buffer).setUint32(5, streamId);
  out.set(payload, FRAME_HEADER_SIZE);
  return out;
}

/** Request HEADERS opening `streamId` for `path`. */
export function headersFrame(streamId: number, path: string, flags = 0): Uint8Array {
  const metadata: Array<[string, string]> = [[PATH, path]];
  const block = new Uint8Array(metadataSize(metadata));
  writeMetadata(block, 0, metadata);
  return frame(FrameType.HEADERS, flags, streamId, block);
}

/** A HEADERS frame with exactly these entries (for floods of tiny entries). */
export function metadataHeaders(streamId: number, entries: Array<[string, string]>): Uint8Array {
  const block = new Uint8Array(metadataSize(entries));
  writeMetadata(block, 0, entries);
  return frame(FrameType.HEADERS, 0, streamId, block);
}

/** A gRPC message (prefix and bytes) as a DATA payload; `declared` overrides the length in the prefix. */
export function messagePayload(message: Uint8Array, declared = message.length): Uint8Array {
  const out = new Uint8Array(MESSAGE_PREFIX_SIZE + message.length);
  writeMessagePrefix(out, 0, declared);
  out.set(message, MESSAGE_PREFIX_SIZE);
  return out;
}

export function u32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value);
  return out;
}

/** Memory after a full GC: the JS heap and the ArrayBuffers (where message bytes live). */
export async function settledMemory(): Promise<{ heap: number; arrayBuffers: number }> {
  for (let i = 0; i < 3; i++) {
    collect();
    await new Promise((r) => setTimeout(r, 20));
  }
  const m = process.memoryUsage();
  return { heap: m.heapUsed, arrayBuffers: m.arrayBuffers };
}

export function openFds(): number {
  return readdirSync("/proc/self/fd").length;
}

/**
 * Keeps a well-behaved client calling `path` one call after another until `stop()`, which
 * resolves to the number of calls and the statuses other than OK.
 */
export function keepCalling(
  client: TestClient,
  path: string,
): { stop(): Promise<{ calls: number; failures: string[] }> } {
  let running = true;
  let calls = 0;
  const failures: string[] = [];
  const loop = (async () => {
    while (running && calls < 10_000) {
      const outcome = await client.call(path, [new Uint8Array(0)], { timeoutMs: 20_000 }).done;
      calls++;
      if (outcome.status?.code !== Status.OK)
        failures.push(
          outcome.status ? `${outcome.status.code}: ${outcome.status.message}` : `reset ${outcome.reset?.name}`,
        );
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { calls, failures };
    },
  };
}

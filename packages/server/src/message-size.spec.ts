import { CloseCode, DEFAULT_SETTINGS } from "@grpc-ws/wire";
import { describe, expect, test } from "vitest";
import { useBridge } from "./bridge-fixture.test-util.js";

// PROTOCOL.md section 1.2: a receiver accepts every WebSocket message its own settings let the
// peer fill at once, initialConnectionWindow + maxConcurrentStreams x (maxMetadataSize + 64) + 1 MiB,
// and closes with 1009 above its limit. The bridge's default limit is exactly that bound.
const s = DEFAULT_SETTINGS;
const LIMIT = s.initialConnectionWindow + s.maxConcurrentStreams * (s.maxMetadataSize + 64) + 1024 * 1024;

const fx = useBridge({ routes() {} });

/** One message of `size` bytes that is not a SETTINGS frame: read, it is a protocol error (1002). */
function junk(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  bytes[3] = 0xff; // frame type 0xff
  return bytes;
}

describe("WebSocket message size", () => {
  test("the default limit is the bound PROTOCOL.md states (6,887,680 bytes with the default settings)", () => {
    expect(LIMIT).toBe(6_887_680);
  });

  test("a message of exactly the limit is read (then refused for its content, 1002)", async () => {
    const peer = await fx.connectRaw();
    peer.ws.send(junk(LIMIT));
    expect((await peer.closed).code).toBe(CloseCode.PROTOCOL_ERROR);
  });

  test("one byte more closes with 1009 before it is read", async () => {
    const peer = await fx.connectRaw();
    peer.ws.send(junk(LIMIT + 1));
    expect((await peer.closed).code).toBe(CloseCode.MESSAGE_TOO_BIG);
  });
});

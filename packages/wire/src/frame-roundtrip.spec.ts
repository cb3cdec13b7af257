import { describe, expect, test } from "vitest";
import { Flags, FrameType, FRAME_HEADER_SIZE, MAX_STREAM_ID, MAX_WINDOW_SIZE } from "./constants.js";
import { FrameReader } from "./frame-reader.js";
import { FrameWriter } from "./frame-writer.js";
import { readMetadata, writeMetadataFrame, type Metadata } from "./metadata.js";
import { DEFAULT_SETTINGS, readSettings, resolveSettings, writeSettings } from "./settings.js";

// A writer whose flush runs only when the test says so: everything written lands in one message.
function capture(options: { slabSize?: number; sinkCopies?: boolean } = {}) {
  const messages: Uint8Array[] = [];
  let pending: (() => void) | undefined;
  const writer = new FrameWriter((m) => messages.push(options.sinkCopies ? m.slice() : m), {
    ...options,
    schedule: (flush) => (pending = flush),
  });
  const flush = () => {
    pending?.();
    pending = undefined;
    return messages;
  };
  return { writer, flush, messages };
}

function frames(message: Uint8Array) {
  const r = new FrameReader().reset(message);
  const out: Array<{ type: number; flags: number; streamId: number; payload: Uint8Array }> = [];
  while (r.next()) out.push({ type: r.type, flags: r.flags, streamId: r.streamId, payload: r.payload.slice() });
  return out;
}

describe("writer -> reader round trip", () => {
  test("every frame kind survives in one coalesced message", () => {
    const { writer, flush } = capture();
    const settings = resolveSettings({ initialStreamWindow: 1234, maxConcurrentStreams: 7, maxFrameSize: 65536 });
    const headers: Metadata = [
      [":path", "/s.S/M"],
      ["k", "v"],
      ["b-bin", new Uint8Array([0, 255])],
    ];
    const trailers: Metadata = [
      ["grpc-status", "3"],
      ["grpc-message", "bad%20arg"],
    ];
    writeSettings(writer, settings);
    writeMetadataFrame(writer, FrameType.HEADERS, 1, headers, true);
    writer.data(1, new Uint8Array([0, 0, 0, 0, 1, 42]), true);
    writer.data(3, new Uint8Array(0));
    writeMetadataFrame(writer, FrameType.TRAILERS, 1, trailers);
    writer.rstStream(5, 8);
    writer.ping(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), false);
    writer.ping(new Uint8Array([8, 7, 6, 5, 4, 3, 2, 1]), true);
    writer.goAway(MAX_STREAM_ID, 2, "debug \u00e9");
    writer.windowUpdate(0, MAX_WINDOW_SIZE);
    writer.windowUpdate(7, 1);
    const messages = flush();
    expect(messages).toHaveLength(1);
    const r = new FrameReader().reset(messages[0]!);
    const seen: number[] = [];
    while (r.next()) {
      seen.push(r.type);
      switch (seen.length) {
        case 1:
          expect(r.type).toBe(FrameType.SETTINGS);
          expect(readSettings(r.bytes, r.offset, r.length)).toEqual(settings);
          break;
        case 2:
          expect([r.type, r.flags, r.streamId]).toEqual([FrameType.HEADERS, Flags.END_STREAM, 1]);
          expect(readMetadata(r.bytes, r.offset, r.length)).toEqual(headers);
          break;
        case 3:
          expect([r.type, r.flags, r.streamId, [...r.payload]]).toEqual([FrameType.DATA, 1, 1, [0, 0, 0, 0, 1, 42]]);
          break;
        case 4:
          expect([r.type, r.flags, r.streamId, r.length]).toEqual([FrameType.DATA, 0, 3, 0]);
          break;
        case 5:
          expect([r.type, r.flags, r.streamId]).toEqual([FrameType.TRAILERS, 0, 1]);
          expect(readMetadata(r.bytes, r.offset, r.length)).toEqual(trailers);
          break;
        case 6:
          expect([r.type, r.streamId, r.u32(0)]).toEqual([FrameType.RST_STREAM, 5, 8]);
          break;
        case 7:
          expect([r.type, r.flags, [...r.payload]]).toEqual([FrameType.PING, 0, [1, 2, 3, 4, 5, 6, 7, 8]]);
          break;
        case 8:
          expect([r.type, r.flags, [...r.payload]]).toEqual([FrameType.PING, Flags.ACK, [8, 7, 6, 5, 4, 3, 2, 1]]);
          break;
        case 9:
          expect([r.type, r.u32(0), r.u32(4)]).toEqual([FrameType.GOAWAY, MAX_STREAM_ID, 2]);
          expect(new TextDecoder().decode(r.payload.subarray(8))).toBe("debug \u00e9");
          break;
        case 10:
          expect([r.type, r.streamId, r.u32(0)]).toEqual([FrameType.WINDOW_UPDATE, 0, MAX_WINDOW_SIZE]);
          break;
        case 11:
          expect([r.type, r.streamId, r.u32(0)]).toEqual([FrameType.WINDOW_UPDATE, 7, 1]);
          break;
      }
    }
    expect(seen).toHaveLength(11);
  });

  test("the header layout is big-endian length u24, type, flags, stream id u32", () => {
    const { writer, flush } = capture();
    writer.data(0x01020304, new Uint8Array(0x0a0b0c), true);
    const m = flush()[0]!;
    expect([...m.subarray(0, FRAME_HEADER_SIZE)]).toEqual([0x0a, 0x0b, 0x0c, 0, 1, 1, 2, 3, 4]);
  });

  test("frames larger than a slab and many small frames keep their bytes", () => {
    const { writer, flush } = capture({ slabSize: 64 });
    const big = new Uint8Array(1000).map((_, i) => i & 0xff);
    for (let i = 1; i <= 21; i += 2) writer.data(i, new Uint8Array([i]));
    writer.data(99, big);
    writer.windowUpdate(0, 5);
    const got = frames(flush()[0]!);
    expect(got.map((f) => f.streamId)).toEqual([1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 99, 0]);
    expect(got[11]!.payload).toEqual(big);
    expect(got.slice(0, 11).map((f) => f.payload[0])).toEqual([1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21]);
  });

  test("a flushed message is not overwritten by later writes unless the sink copies", () => {
    const kept = capture();
    kept.writer.data(1, new Uint8Array([7]));
    kept.flush();
    kept.writer.data(1, new Uint8Array([9]));
    kept.flush();
    expect(kept.messages.map((m) => frames(m)[0]!.payload[0])).toEqual([7, 9]);

    const copied = capture({ sinkCopies: true });
    copied.writer.data(1, new Uint8Array([7]));
    copied.flush();
    copied.writer.data(3, new Uint8Array([9]));
    copied.flush();
    expect(copied.messages.map((m) => frames(m)[0]!.streamId)).toEqual([1, 3]);
  });

  test("writes in one tick become one message with the default scheduler", async () => {
    const messages: Uint8Array[] = [];
    const writer = new FrameWriter((m) => messages.push(m.slice()));
    for (let i = 0; i < 100; i++) writer.windowUpdate(0, i + 1);
    expect(messages).toHaveLength(0);
    await new Promise((resolve) => setImmediate(resolve));
    expect(messages).toHaveLength(1);
    expect(frames(messages[0]!).map((f) => f.type)).toEqual(new Array(100).fill(FrameType.WINDOW_UPDATE));
    writer.flush();
    expect(messages).toHaveLength(1);
  });

  test("the reader honours maxFrameSize and default settings fit", () => {
    const { writer, flush } = capture();
    writeSettings(writer, DEFAULT_SETTINGS);
    writer.data(1, new Uint8Array(DEFAULT_SETTINGS.maxFrameSize));
    const message = flush()[0]!;
    const strict = new FrameReader(DEFAULT_SETTINGS.maxFrameSize - 1).reset(message);
    expect(strict.next()).toBe(true);
    expect(() => strict.next()).toThrow(/exceeds max frame size/);
    expect(frames(message)).toHaveLength(2);
  });
});

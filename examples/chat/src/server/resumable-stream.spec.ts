import { describe, expect, it } from "vitest";
import type { RoomEvent } from "../../../../gen/chat/v1/chat_pb.js";
import { MemoryBackplane } from "./memory-backplane.js";
import { resumeStream, type ResumeItem } from "./resumable-stream.js";

// resumeStream on the in-memory room log: the paths the network tests reach only by chance.

const text = (item: ResumeItem<RoomEvent>) =>
  "caughtUp" in item
    ? "|"
    : item.event.event.case === "message"
      ? item.event.event.value.text
      : (item.event.event.case ?? "none");

async function setup() {
  const chat = new MemoryBackplane();
  const { member } = await chat.join("general", "ann", "");
  return { chat, member };
}

describe("resumeStream", () => {
  it("moves a reader that falls behind its buffer back to the log: nothing lost, nothing twice", async () => {
    const { chat, member } = await setup();
    await chat.post(member, "before");
    const call = new AbortController();
    const it = resumeStream(chat.room("general"), { replay: 10 }, { signal: call.signal, bufferSize: 5, pageSize: 4 })[
      Symbol.asyncIterator
    ]();
    expect(text((await it.next()).value!)).toBe("before");
    expect(text((await it.next()).value!)).toBe("|");
    // 50 messages while the reader reads nothing: the 5-event buffer overflows many times.
    for (let i = 0; i < 50; i++) await chat.post(member, `m${i}`);
    const got: string[] = [];
    for (let i = 0; i < 50; i++) got.push(text((await it.next()).value!));
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
    // Live again afterwards.
    await chat.post(member, "live");
    expect(text((await it.next()).value!)).toBe("live");
    call.abort();
    expect((await it.next()).done).toBe(true);
    await chat.close();
  });

  it("passes live-only events through and ends when the call is aborted", async () => {
    const { chat, member } = await setup();
    const call = new AbortController();
    const it = resumeStream(chat.room("general"), { replay: 0 }, { signal: call.signal })[Symbol.asyncIterator]();
    expect(text((await it.next()).value!)).toBe("|");
    await chat.markRead(member, "1-1");
    expect(text((await it.next()).value!)).toBe("read");
    const pending = it.next();
    call.abort();
    expect((await pending).done).toBe(true);
    await chat.close();
  });
});

import { describe, expect, it } from "vitest";
import { AsyncQueue } from "../shared/async-queue.js";
import { MemoryPubSub } from "./pubsub.js";

describe("MemoryPubSub", () => {
  it("delivers to the subscribers of a topic only, until they unsubscribe", async () => {
    const bus = new MemoryPubSub<string>();
    const a: string[] = [];
    const b: string[] = [];
    const offA = bus.subscribe("room:a", (e) => a.push(e));
    bus.subscribe("room:b", (e) => b.push(e));
    await bus.publish("room:a", "1");
    offA();
    await bus.publish("room:a", "2");
    await bus.publish("room:b", "3");
    expect(a).toEqual(["1"]);
    expect(b).toEqual(["3"]);
    expect(bus.subscriberCount("room:a")).toBe(0);
  });

  it("keeps delivering to the others when one listener throws", async () => {
    const bus = new MemoryPubSub<number>();
    const got: number[] = [];
    const original = console.error;
    console.error = () => {};
    try {
      bus.subscribe("t", () => {
        throw new Error("broken subscriber");
      });
      bus.subscribe("t", (e) => got.push(e));
      await bus.publish("t", 7);
    } finally {
      console.error = original;
    }
    expect(got).toEqual([7]);
  });
});

describe("AsyncQueue", () => {
  it("yields pushed items in order and ends after end()", async () => {
    const q = new AsyncQueue<number>(10, () => new Error("overflow"));
    q.push(1);
    q.push(2);
    q.end();
    const out: number[] = [];
    for await (const n of q) out.push(n);
    expect(out).toEqual([1, 2]);
  });

  it("fails a consumer that falls more than `capacity` items behind instead of buffering", async () => {
    const q = new AsyncQueue<number>(3, () => new Error("too slow"));
    for (let i = 0; i < 5; i++) q.push(i);
    await expect(q[Symbol.asyncIterator]().next()).rejects.toThrow("too slow");
  });

  it("with drop-oldest keeps the newest `capacity` items", async () => {
    const q = new AsyncQueue<number>(3, "drop-oldest");
    for (let i = 0; i < 5; i++) q.push(i);
    q.end();
    const out: number[] = [];
    for await (const n of q) out.push(n);
    expect(out).toEqual([2, 3, 4]);
  });
});

/** What a full queue does with one more item: drop the oldest, or fail the consumer with this error. */
export type Overflow = "drop-oldest" | (() => unknown);

/**
 * A bounded async queue between a push source and a consumer that iterates it: the server's
 * pub/sub fan-out into a stream (a reader that falls behind is failed, never buffered without
 * bound) and the page's bidi request side (UI signals, where the oldest may be dropped).
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiter: (() => void) | undefined;
  private error: unknown;
  private done = false;

  constructor(
    private readonly capacity: number,
    private readonly overflow: Overflow,
  ) {}

  push(item: T): void {
    if (this.done) return;
    if (this.items.length >= this.capacity) {
      if (this.overflow !== "drop-oldest") return this.fail(this.overflow());
      this.items.shift();
    }
    this.items.push(item);
    this.wake();
  }

  /** Ends the iteration after the queued items. */
  end(): void {
    this.done = true;
    this.wake();
  }

  /** Ends the iteration at once with `error`. */
  fail(error: unknown): void {
    if (this.done) return;
    this.done = true;
    this.error = error ?? new Error("queue failed");
    this.items.length = 0;
    this.wake();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for (;;) {
      if (this.error !== undefined) throw this.error;
      const item = this.items.shift();
      if (item !== undefined) {
        yield item;
        continue;
      }
      if (this.done) return;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }
}

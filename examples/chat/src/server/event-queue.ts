/**
 * A bounded async queue between a push source (pub/sub listener) and an async
 * generator that yields to a stream. A consumer that falls `capacity` events behind
 * is failed with `overflow` instead of buffering without bound.
 */
export class EventQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiter: (() => void) | undefined;
  private error: unknown;
  private done = false;

  constructor(
    private readonly capacity: number,
    private readonly overflow: () => unknown,
  ) {}

  push(item: T): void {
    if (this.done) return;
    if (this.items.length >= this.capacity) {
      this.fail(this.overflow());
      return;
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

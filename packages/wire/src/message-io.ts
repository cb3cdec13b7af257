/**
 * The two loops every call runs over a stream, written once for both sides: reading inbound
 * messages as an async iterator, and writing an async iterable's messages while the stream is
 * writable. Flow-control credit goes back to the peer in one place, `Stream.read()`, which the
 * `pull` function of a reader calls.
 */

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

type Waiter<T> = { resolve: (result: IteratorResult<T, undefined>) => void; reject: (error: unknown) => void };

/**
 * Inbound messages as an `AsyncIterator`. `pull` returns the next outcome that is ready now (a
 * message, the end) or undefined to wait, and throws the error that ends the iteration; the owner
 * calls `wake()` whenever that may have changed (a message arrived, the peer ended, the call ended).
 */
export class MessageIterator<T> implements AsyncIterableIterator<T, undefined> {
  private readonly waiters: Array<Waiter<T>> = [];
  private returned = false;

  constructor(
    private readonly pull: () => IteratorResult<T, undefined> | undefined,
    /** The consumer stopped early (`break`, `return()`). */
    private readonly onReturn?: () => void,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<T, undefined>> {
    // Fast path: an outcome is already here; no waiter, no executor closure.
    if (this.waiters.length === 0) {
      let result: IteratorResult<T, undefined> | undefined;
      try {
        result = this.take();
      } catch (error) {
        return Promise.reject(error);
      }
      if (result !== undefined) return Promise.resolve(result);
    }
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  return(): Promise<IteratorResult<T, undefined>> {
    if (!this.returned) {
      this.returned = true;
      this.onReturn?.();
      this.wake();
    }
    return Promise.resolve(DONE);
  }

  /** Settles waiting `next()` calls from what is ready now. */
  wake(): void {
    while (this.waiters.length > 0) {
      let result: IteratorResult<T, undefined> | undefined;
      let failed = false;
      let error: unknown;
      try {
        result = this.take();
        if (result === undefined) return; // wait for more
      } catch (e) {
        failed = true;
        error = e;
      }
      // take() may have ended the call, which woke (and settled) the waiters already.
      const waiter = this.waiters.shift();
      if (waiter === undefined) return;
      if (failed) waiter.reject(error);
      else waiter.resolve(result!);
    }
  }

  private take(): IteratorResult<T, undefined> | undefined {
    return this.returned ? DONE : this.pull();
  }
}

/** Where `pipeMessages` writes: a call's outbound side. */
export interface MessageSink<T> {
  /** The call is over (or stopped sending): pull nothing more. */
  readonly stopped: boolean;
  /** Encodes and queues one message; false asks the loop to wait for `writable()`. May throw. */
  write(value: T): boolean;
  /** Resolves when the stream can take more, or the call is over. */
  writable(): Promise<void>;
}

/**
 * The writer loop: await the next value, write it, wait while the stream is not writable.
 * Resolves "done" when `source` ended, "stopped" when the sink stopped first; rejects with what
 * the source or the sink threw.
 */
export async function pipeMessages<T>(source: AsyncIterator<T>, sink: MessageSink<T>): Promise<"done" | "stopped"> {
  for (;;) {
    const result = await source.next();
    if (sink.stopped) return "stopped";
    if (result.done) return "done";
    if (!sink.write(result.value) && !sink.stopped) await sink.writable();
    if (sink.stopped) return "stopped";
  }
}

/** A promise the writer loop waits on until `open()` (the stream became writable, or the call ended). */
export class WritableGate {
  private waiter: (() => void) | undefined;

  wait(): Promise<void> {
    return new Promise((resolve) => (this.waiter = resolve));
  }

  open(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }
}

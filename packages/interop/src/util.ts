// Small helpers shared by the service implementations and the cases.
// Browser-safe: no Node-only imports here.
import { Code, ConnectError } from "@connectrpc/connect";

/** Metadata keys of the interop spec's "Echo Metadata" server feature. */
export const ECHO_INITIAL_KEY = "x-grpc-test-echo-initial";
export const ECHO_TRAILING_KEY = "x-grpc-test-echo-trailing-bin";

/** Turns an aborted signal into the error a handler or case should see (Canceled unless the reason says otherwise). */
export function abortError(signal: AbortSignal): ConnectError {
  return ConnectError.from(signal.reason, Code.Canceled);
}

/** setTimeout as a promise that rejects as soon as `signal` aborts, so cancelled work ends promptly. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError(signal as AbortSignal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Wraps an async iterable so that a pending `next()` rejects when `signal` aborts.
 * A handler waiting for the next request then ends even if the transport never
 * ends the request stream after a cancel or deadline.
 */
export async function* abortable<T>(source: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T, void, undefined> {
  const it = source[Symbol.asyncIterator]();
  let finished = false;
  try {
    for (;;) {
      if (signal.aborted) throw abortError(signal);
      const next = it.next();
      // If the abort wins the race, a later rejection of `next` must not go unhandled.
      next.catch(() => undefined);
      let onAbort: (() => void) | undefined;
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () => reject(abortError(signal));
        signal.addEventListener("abort", onAbort, { once: true });
      });
      let r: IteratorResult<T>;
      try {
        r = await Promise.race([next, aborted]);
      } finally {
        // A fresh listener per message, removed each time, so long streams do not pile up listeners.
        if (onAbort) signal.removeEventListener("abort", onAbort);
      }
      if (r.done) {
        finished = true;
        return;
      }
      yield r.value;
    }
  } finally {
    // Release the source when we stop early (abort, error, or consumer break).
    if (!finished) void Promise.resolve(it.return?.()).catch(() => undefined);
  }
}

/**
 * A push-driven AsyncIterable for request streams: the caller decides when each
 * message is sent (e.g. ping-pong waits for a reply) and when to half-close.
 */
export interface Pushable<T> extends AsyncIterable<T> {
  push(value: T): void;
  /** Half-close: the consumer sees the end after the queued values. Call it when done (e.g. in
   *  `finally`), also after a cancel, so a read the transport still has pending is released. */
  end(): void;
}

export function pushable<T>(): Pushable<T> {
  const queue: T[] = [];
  let ended = false;
  let waiter: ((r: IteratorResult<T, undefined>) => void) | undefined;
  const wake = (): void => {
    if (!waiter) return;
    const w = waiter;
    if (queue.length > 0) {
      waiter = undefined;
      w({ done: false, value: queue.shift() as T });
    } else if (ended) {
      waiter = undefined;
      w({ done: true, value: undefined });
    }
  };
  // The consumer is done (call finished or cancelled): drop what is left. A pending next()
  // stays pending (as with an async generator suspended in an await) until end(): resolving
  // it with done here would make the transport half-close the call before resetting it.
  const close = (): void => {
    ended = true;
    queue.length = 0;
  };
  return {
    push(value: T) {
      // Pushing after the consumer went away is a no-op, like writing to a closed call.
      if (ended) return;
      queue.push(value);
      wake();
    },
    end() {
      ended = true;
      wake();
    },
    [Symbol.asyncIterator](): AsyncIterator<T, undefined> {
      return {
        next() {
          if (waiter) return Promise.reject(new Error("pushable: concurrent next()"));
          return new Promise((resolve) => {
            waiter = resolve;
            wake();
          });
        },
        return() {
          close();
          return Promise.resolve({ done: true, value: undefined });
        },
        // Connect's stream pipes require throw() (they use it to abort the source). Like an
        // async generator without catch, rethrow: the request stream then fails instead of
        // half-closing, so the transport resets the call rather than ending it cleanly.
        throw(e?: unknown) {
          close();
          return Promise.reject(e);
        },
      };
    },
  };
}

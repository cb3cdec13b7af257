import { Code, ConnectError } from "@connectrpc/connect";

/**
 * A log of events with ordered positions plus a live feed of what is appended to it:
 * what a server stream needs to resume after a dropped connection. A Redis stream with
 * pub/sub, or an array with listeners, fits. Events without a position (e.g. "who is
 * online" snapshots) travel live only and are never replayed.
 */
export interface ResumableSource<T> {
  /**
   * Calls `deliver` for every event from now on: logged events in log order. Resolves once
   * the feed is active. `fail` ends the stream (e.g. the broker connection was lost: events
   * may have been missed, so the client must resume).
   */
  subscribe(deliver: (event: T) => void, fail: (error: unknown) => void): Promise<() => void>;
  /** The position of a logged event; undefined for a live-only event. */
  positionOf(event: T): string | undefined;
  /**
   * Up to `limit` logged events after `position` (exclusive; undefined: from the oldest kept),
   * oldest first. Resolves `undefined` when `position` is no longer kept, so events after it
   * may be gone.
   */
  readAfter(position: string | undefined, limit: number): Promise<T[] | undefined>;
  /** The newest `count` logged events, oldest first. */
  readLast(count: number): Promise<T[]>;
  /** Negative when position `a` is older than `b`, 0 when equal. */
  compare(a: string, b: string): number;
}

/** Where a stream starts: after the last position the client saw, or with the newest `replay` events. */
export type ResumeFrom = { after: string } | { replay: number };

/** An event, or the marker that everything before it was replayed and what follows is live. */
export type ResumeItem<T> = { event: T } | { caughtUp: true };

export interface ResumeOptions {
  /** Ends the stream (returns) when aborted: pass the handler's `ctx.signal`. */
  signal: AbortSignal;
  /** Live events buffered while the reader is busy; past this the reader reads from the log instead. Default 1000. */
  bufferSize?: number;
  /** Events per log read. Default 500. */
  pageSize?: number;
}

/**
 * Yields the events after a resume position exactly once and in order, then the live events,
 * for as long as the call lasts. Subscribing comes first and reading the log second, so an event
 * is in one or both; positions drop the doubles. A reader that falls `bufferSize` events behind
 * is moved back to the log, so memory stays bounded and a slow reader loses nothing (live-only
 * events during that time are dropped). A position older than the kept log fails the stream
 * with OUT_OF_RANGE: the client then starts over without one.
 */
export async function* resumeStream<T>(
  source: ResumableSource<T>,
  from: ResumeFrom,
  options: ResumeOptions,
): AsyncGenerator<ResumeItem<T>, void, undefined> {
  const { signal, bufferSize = 1000, pageSize = 500 } = options;
  const buffer: T[] = [];
  let behind = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const wakeUp = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const unsubscribe = await source.subscribe(
    (event) => {
      if (buffer.length >= bufferSize) {
        behind = true; // everything dropped here is in the log
        buffer.length = 0;
      }
      buffer.push(event);
      wakeUp();
    },
    (error) => {
      failure ??= error;
      wakeUp();
    },
  );
  signal.addEventListener("abort", wakeUp);
  let position: string | undefined;
  // Reads the log after `position` until a short page says it is caught up.
  async function* catchUp(): AsyncGenerator<ResumeItem<T>, void, undefined> {
    for (;;) {
      const page = await source.readAfter(position, pageSize);
      if (page === undefined) throw tooOld(position);
      for (const event of page) {
        position = source.positionOf(event) ?? position;
        yield { event };
      }
      if (page.length < pageSize) return;
    }
  }
  try {
    if ("after" in from) {
      position = from.after;
      yield* catchUp();
    } else {
      for (const event of await source.readLast(from.replay)) {
        position = source.positionOf(event) ?? position;
        yield { event };
      }
    }
    yield { caughtUp: true };
    while (!signal.aborted) {
      if (failure !== undefined) throw failure;
      if (behind) {
        behind = false;
        buffer.length = 0;
        yield* catchUp();
        continue;
      }
      const event = buffer.shift();
      if (event === undefined) {
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      const p = source.positionOf(event);
      if (p !== undefined) {
        if (position !== undefined && source.compare(p, position) <= 0) continue; // already yielded from the log
        position = p;
      }
      yield { event };
    }
  } finally {
    signal.removeEventListener("abort", wakeUp);
    unsubscribe();
  }
}

function tooOld(position: string | undefined): ConnectError {
  return new ConnectError(
    `resume position ${position ?? "(start)"} is older than the kept history; follow again without one to reload it`,
    Code.OutOfRange,
  );
}

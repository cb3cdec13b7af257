/**
 * The in-memory room fan-out of `MemoryBackplane`: every event of a room goes through
 * `publish`, and every open Follow or Session call of that room `subscribe`s. Several
 * instances use `RedisBackplane` instead (one pattern subscription per instance,
 * see redis-fanout.ts).
 */
export interface PubSub<T> {
  /** Delivers `event` to every current subscriber of `topic` (on every instance). */
  publish(topic: string, event: T): Promise<void>;
  /** Calls `listener` for each event published on `topic` from now on; returns an unsubscribe function. */
  subscribe(topic: string, listener: (event: T) => void): () => void;
}

/** In-memory PubSub: synchronous fan-out to the listeners of this process. */
export class MemoryPubSub<T> implements PubSub<T> {
  private readonly topics = new Map<string, Set<(event: T) => void>>();

  publish(topic: string, event: T): Promise<void> {
    const listeners = this.topics.get(topic);
    if (listeners) {
      // Copy: a listener may unsubscribe (or subscribe) while we iterate.
      for (const listener of [...listeners]) {
        try {
          listener(event);
        } catch (err) {
          // One broken subscriber must not starve the others.
          console.error("pubsub listener failed:", err);
        }
      }
    }
    return Promise.resolve();
  }

  subscribe(topic: string, listener: (event: T) => void): () => void {
    let listeners = this.topics.get(topic);
    if (!listeners) {
      listeners = new Set();
      this.topics.set(topic, listeners);
    }
    listeners.add(listener);
    return () => {
      const set = this.topics.get(topic);
      if (!set) return;
      set.delete(listener);
      if (set.size === 0) this.topics.delete(topic);
    };
  }

  /** Subscribers of a topic; for tests and metrics. */
  subscriberCount(topic: string): number {
    return this.topics.get(topic)?.size ?? 0;
  }
}

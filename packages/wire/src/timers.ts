/** The longest delay setTimeout honours; Node and browsers fire larger ones at once. */
export const MAX_TIMER_MS = 0x7fffffff;

/** Lets a Node timer not keep the process alive (a no-op in browsers). */
export function unref(timer: unknown): void {
  (timer as { unref?: () => void }).unref?.();
}

/**
 * Calls `onExpire` after `ms`, however long (a grpc-timeout reaches 99999999H, far past
 * MAX_TIMER_MS: longer deadlines are reached in steps). Returns a function that cancels it.
 */
export function setDeadline(ms: number, onExpire: () => void): () => void {
  const at = performance.now() + ms;
  let timer: ReturnType<typeof setTimeout>;
  const arm = (left: number): void => {
    timer =
      left > MAX_TIMER_MS
        ? setTimeout(() => arm(at - performance.now()), MAX_TIMER_MS)
        : setTimeout(onExpire, Math.max(0, left));
  };
  arm(ms);
  return () => clearTimeout(timer);
}

/** How long a closing WebSocket may take for the close handshake before it is cut (both sides). */
export const CLOSE_HANDSHAKE_MS = 1_000;

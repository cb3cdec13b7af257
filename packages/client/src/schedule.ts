import type { FrameWriterOptions } from "@grpc-ws/wire";

/** Runs `flush` soon after the current task, so that everything written in it goes out as one message. */
export type FlushScheduler = NonNullable<FrameWriterOptions["schedule"]>;

/**
 * The scheduler the transport uses: a macrotask without setTimeout's clamping (setImmediate in
 * Node, MessageChannel in browsers), which coalesces more than a microtask at the cost of one
 * event-loop turn. Measured in Node (two processes, loopback): setImmediate and a microtask gave
 * the same unary p50 (~100 us) and bidi ping-pong p50 (~25 us) within noise, so the one that
 * coalesces more wins. Falls back to a microtask where neither exists.
 */
export function defaultFlushScheduler(): FlushScheduler {
  if (typeof setImmediate === "function") return (flush) => void setImmediate(flush);
  if (typeof MessageChannel === "function") {
    const channel = new MessageChannel();
    const queue: Array<() => void> = [];
    channel.port1.onmessage = () => {
      const fns = queue.splice(0, queue.length);
      for (const fn of fns) fn();
    };
    return (flush) => {
      queue.push(flush);
      if (queue.length === 1) channel.port2.postMessage(null);
    };
  }
  return (flush) => queueMicrotask(flush);
}

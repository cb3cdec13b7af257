import type { ServerCall } from "./server-call.js";

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/**
 * The request messages of a client- or bidi-streaming call as the handler's AsyncIterable. It
 * pulls from the stream only when the handler asks, so flow-control credit goes back to the
 * client at the handler's pace: a slow handler holds the client back instead of buffering.
 */
export class RequestStream<T> implements AsyncIterableIterator<T, undefined> {
  // A pending next(): its settle functions, kept as two fields rather than an object per wait.
  private resolve: ((r: IteratorResult<T, undefined>) => void) | undefined;
  private reject: ((e: unknown) => void) | undefined;
  private finished = false;

  constructor(
    private readonly call: ServerCall,
    /** Throws a ConnectError (and fails the call) for bytes that do not parse. */
    private readonly decode: (bytes: Uint8Array) => T,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<T, undefined>> {
    if (this.resolve) return Promise.reject(new Error("request stream: next() called before the previous one settled"));
    let result: IteratorResult<T, undefined> | undefined;
    try {
      result = this.poll();
    } catch (e) {
      return Promise.reject(e);
    }
    if (result) return Promise.resolve(result);
    return new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  return(): Promise<IteratorResult<T, undefined>> {
    this.finished = true;
    this.wake();
    return Promise.resolve(DONE);
  }

  /** A message arrived, the client half-closed, or the call ended: settle a pending `next()`. */
  wake(): void {
    const { resolve, reject } = this;
    if (!resolve) return;
    let result: IteratorResult<T, undefined> | undefined;
    try {
      result = this.poll();
    } catch (e) {
      this.resolve = this.reject = undefined;
      reject!(e);
      return;
    }
    if (result) {
      this.resolve = this.reject = undefined;
      resolve(result);
    }
  }

  // The next result if one is ready now; throws when the call was aborted.
  private poll(): IteratorResult<T, undefined> | undefined {
    if (this.finished) return DONE;
    const call = this.call;
    if (call.signal.aborted) throw call.signal.reason;
    if (call.done) return DONE;
    const bytes = call.stream.read();
    if (bytes !== undefined) return { done: false, value: this.decode(bytes) };
    if (call.stream.remoteEnded) {
      this.finished = true;
      return DONE;
    }
    return undefined;
  }
}

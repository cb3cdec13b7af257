import { Code, ConnectError } from "@connectrpc/connect";
import { expect } from "vitest";

// Helpers of the chat's Node tests (calls through the real client).

/** Awaits `promise` and checks that it failed with `code`; returns the error. */
export async function expectCode(promise: Promise<unknown>, code: Code): Promise<ConnectError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  expect(err, `expected ${Code[code]}`).toBeDefined();
  expect(Code[err!.code]).toBe(Code[code]);
  return err!;
}

/** Reads events until one matches; bounded in count and time. */
export async function waitFor<T>(
  it: AsyncIterator<T>,
  match: (e: T) => boolean,
  what: string,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 1000; i++) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const next = await Promise.race([
      it.next(),
      new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), left))),
    ]);
    clearTimeout(timer);
    if (next === "timeout") break;
    if (next.done) throw new Error(`stream ended while waiting for ${what}`);
    if (match(next.value)) return next.value;
  }
  throw new Error(`timed out waiting for ${what}`);
}

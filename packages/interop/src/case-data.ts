// The request data and small helpers the case sets (cases.ts, compat-cases.ts, compression-cases.ts)
// share: sizes and echo values from grpc/grpc doc/interop-test-descriptions.md. Internal to the
// package (not re-exported). Browser-safe.

export const REQUEST_SIZES = [27182, 8, 1828, 45904];
export const RESPONSE_SIZES = [31415, 9, 2653, 58979];
export const ECHO_INITIAL_VALUE = "test_initial_metadata_value";
export const ECHO_TRAILING_VALUE = new Uint8Array([0xab, 0xab, 0xab]);

export const zeros = (n: number): Uint8Array => new Uint8Array(n);

/** Sends `items` and then half-closes. */
export async function* requests<T>(...items: T[]): AsyncGenerator<T> {
  yield* items;
}

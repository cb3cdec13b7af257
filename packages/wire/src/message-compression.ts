/**
 * gRPC's per-message compression as a handler sees it: whether a request message came with the
 * compressed flag, and whether the next responses may be compressed (gRPC's "no compress" write
 * flag). Connect's handler API has neither; the interop cases need both ("Compressed Request",
 * "Compressed Response" of grpc/grpc doc/interop-test-descriptions.md).
 */
export interface MessageCompression {
  /** Whether the request message read last arrived compressed (flag bit 0 of its prefix). */
  readonly lastRequestCompressed: boolean;
  /**
   * False: the following response messages go uncompressed although the call negotiated a
   * response encoding; true again compresses them (those of at least `compressMinBytes`). Default true.
   */
  compressResponses: boolean;
}

/**
 * Where an in-process handler of the bridge finds its call's `MessageCompression`:
 * `ctx.values.get(messageCompressionKey)`, set when the call negotiated a `grpc-encoding` either
 * way (undefined otherwise). Structurally a Connect `ContextKey`, so this package stays free of
 * dependencies and browser-safe code can name it.
 */
export const messageCompressionKey: { readonly id: symbol; readonly defaultValue: MessageCompression | undefined } =
  Object.freeze({ id: Symbol("grpc-ws message compression"), defaultValue: undefined });

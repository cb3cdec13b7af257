/**
 * Glue that @grpc-ws/client and @grpc-ws/server share: the call loops, timers, option checks,
 * header conversion and keepalive. The cost model (budget.ts) is public.
 *
 * NOT semver-stable: anything here may change or go away in any release. Import from
 * "@grpc-ws/wire" instead.
 *
 * @packageDocumentation
 */
export { MessageIterator, pipeMessages, WritableGate, type MessageSink } from "./message-io.js";
export { MessageInflater, type FlaggedSource } from "./message-inflater.js";
export { MessageDeflater, type FlaggedSink } from "./message-deflater.js";
export { encodeBase64, decodeBase64, headersToMetadata, metadataToHeaders } from "./headers.js";
export { CLOSE_HANDSHAKE_MS, setDeadline, unref } from "./timers.js";
export { checkRange, resolveKeepalive, withDefaults } from "./options.js";
export { statusOfReset } from "./reset-status.js";
export { overLimit } from "./compression.js";
export { Keepalive } from "./keepalive.js";
export { traceFromEnv } from "./trace.js";
export {
  RPC_SYSTEM,
  SPAN_KIND_CLIENT,
  SPAN_KIND_SERVER,
  SPAN_STATUS_ERROR,
  metadataCarrier,
  telemetryApi,
} from "./telemetry.js";

/**
 * Glue that @grpc-ws/client and @grpc-ws/server share: the call loops, timers, option checks,
 * header conversion, keepalive and the reset limiter.
 *
 * NOT semver-stable: anything here may change or go away in any release. Import from
 * "@grpc-ws/wire" instead.
 *
 * @packageDocumentation
 */
export { MessageIterator, pipeMessages, WritableGate, type MessageSink } from "./message-io.js";
export { encodeBase64, decodeBase64, headersToMetadata, metadataToHeaders } from "./headers.js";
export { MAX_TIMER_MS, CLOSE_HANDSHAKE_MS, setDeadline, unref } from "./timers.js";
export { checkRange, resolveKeepalive, withDefaults } from "./options.js";
export { statusOfReset } from "./reset-status.js";
export { Keepalive } from "./keepalive.js";
export { RESET_BURST, RESET_RATE_PER_S, ResetLimiter } from "./reset-limiter.js";
export { traceFromEnv, describeFrame } from "./trace.js";

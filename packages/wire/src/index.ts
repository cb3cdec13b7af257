// @grpc-ws/wire: the grpc-ws v1 protocol (docs/PROTOCOL.md). Glue shared by @grpc-ws/client and
// @grpc-ws/server lives behind "@grpc-ws/wire/internal" and is not part of the semver contract.

// --- For users: the protocol's names, statuses, settings and errors -------------------------
export {
  SUBPROTOCOL,
  FRAME_HEADER_SIZE,
  MAX_FRAME_SIZE_LIMIT,
  MAX_STREAM_ID,
  MAX_WINDOW_SIZE,
  FrameType,
  FrameTypeName,
  Flags,
  ErrorCode,
  ErrorCodeName,
  CloseCode,
} from "./constants.js";
export { Status, StatusName, parseStatus, statusFromErrorCode } from "./status.js";
export { DEFAULT_SETTINGS, MIN_FRAME_SIZE, SettingId, resolveSettings, type Settings } from "./settings.js";
export { DEFAULT_KEEPALIVE, type KeepaliveOptions } from "./keepalive.js";
export {
  DEFAULT_BUDGETS,
  MESSAGE_OVERHEAD,
  RESET_BURST,
  RESET_RATE_PER_S,
  resolveBudgets,
  type Budgets,
  type RateLimit,
} from "./budget.js";
export { ProtocolError, SessionClosedError } from "./errors.js";
export type { TraceSink } from "./trace.js";
export type { Metadata, MetadataValue } from "./metadata.js";
export {
  GRPC_STATUS,
  GRPC_MESSAGE,
  GRPC_STATUS_DETAILS,
  GRPC_TIMEOUT,
  RESERVED_NAMES,
  createTrailers,
  parseTrailers,
  type CallStatus,
} from "./trailers.js";
export {
  BEARER_SUBPROTOCOL_PREFIX,
  REFUSAL_CLOSE_CODE_BASE,
  bearerSubprotocol,
  tokenFromSubprotocol,
  refusalCloseCode,
  refusalCloseReason,
  statusFromRefusalClose,
} from "./access.js";

// --- For other libraries: sessions, streams and the codec, to build a transport on ----------
export { Session, type SessionOptions, type SessionSocket } from "./session.js";
export { Stream, type StreamEvents, type StreamState } from "./stream.js";
export { FrameReader } from "./frame-reader.js";
export { FrameWriter, type FrameWriterOptions, type FrameSink } from "./frame-writer.js";
export {
  PATH,
  isBinaryName,
  invalidName,
  metadataSize,
  writeMetadata,
  writeMetadataFrame,
  readMetadata,
  getMetadata,
} from "./metadata.js";
export { writeSettings, readSettings } from "./settings.js";
export {
  MESSAGE_PREFIX_SIZE,
  MessageFlags,
  MessageError,
  MessageReader,
  PIN_RATIO,
  writeMessagePrefix,
} from "./message.js";
export { ConnectionBudget } from "./budget.js";
export { encodeStatusMessage, decodeStatusMessage } from "./status-message.js";
export { parseTimeout, formatTimeout } from "./timeout.js";
export { methodPath, parseMethodPath, type MethodPath } from "./method-path.js";
export type { OpenTelemetryApi, TelemetryOptions } from "./telemetry.js";

// --- Per-message compression (docs/PROTOCOL.md appendix B) ---------------------------------
export {
  GRPC_ENCODING,
  GRPC_ACCEPT_ENCODING,
  IDENTITY,
  DEFAULT_COMPRESS_MIN_BYTES,
  gzip,
  compressMessage,
  decompressMessage,
  parseEncodingList,
  acceptEncodingValue,
  negotiateCompression,
  responseCompression,
  type Compression,
  type Negotiated,
} from "./compression.js";
export { messageCompressionKey, type MessageCompression } from "./message-compression.js";

// --- The grpc-websockets subprotocol of improbable-eng/grpc-web and nice-grpc-web (appendix A) --
export {
  GRPC_WEBSOCKETS,
  ClientTag,
  END_OF_CLIENT_STREAM,
  METADATA_FRAME_FLAG,
  GrpcWebSocketsError,
  decodeHeaderBlock,
  encodeHeaderBlock,
  encodeMetadataFrame,
  readClientMessage,
  encodeClientData,
  type ClientMessage,
} from "./compat/grpc-websockets.js";
export { GrpcWebReader, type GrpcWebFrame } from "./compat/grpc-web-reader.js";

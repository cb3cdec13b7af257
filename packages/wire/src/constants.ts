/** The WebSocket subprotocol token of this protocol version. */
export const SUBPROTOCOL = "grpc-ws.v1";

/** Every frame starts with this many header bytes: length (u24), type (u8), flags (u8), stream id (u32). */
export const FRAME_HEADER_SIZE = 9;

/** Largest payload the 24-bit length field can describe. */
export const MAX_FRAME_SIZE_LIMIT = 0xffffff;

/** Largest stream id and window size (31 bits, as in HTTP/2). */
export const MAX_STREAM_ID = 0x7fffffff;
export const MAX_WINDOW_SIZE = 0x7fffffff;

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  TRAILERS: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PING: 0x5,
  GOAWAY: 0x6,
  WINDOW_UPDATE: 0x7,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** The highest frame type v1 defines; a frame of a higher type is a connection error (PROTOCOL_ERROR). */
export const MAX_FRAME_TYPE = FrameType.WINDOW_UPDATE;

export const FrameTypeName: Record<number, string> = namesByValue(FrameType);

/** Flag bits. END_STREAM is valid on DATA and HEADERS, ACK on PING; every other bit must be zero. */
export const Flags = {
  END_STREAM: 0x1,
  ACK: 0x1,
} as const;

/** Error codes of RST_STREAM and GOAWAY: the HTTP/2 codes, so a gateway maps them one to one. */
export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export const ErrorCodeName: Record<number, string> = namesByValue(ErrorCode);

/** WebSocket close codes the protocol uses (RFC 6455 section 7.4.1). */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  /** A text message arrived: grpc-ws carries binary messages only. */
  UNSUPPORTED_DATA: 1003,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
} as const;

/** Inverts a `{ NAME: number }` table, for messages that show a name instead of a number. */
export function namesByValue(table: Readonly<Record<string, number>>): Record<number, string> {
  return Object.fromEntries(Object.entries(table).map(([name, value]) => [value, name]));
}

/** Limits shared by the server (which enforces them) and the UI (which shows them). */
export const LIMITS = {
  /** Longest chat message, in characters (UTF-16 code units, as the textarea counts). */
  maxTextLength: 2000,
  /** Largest attachment in bytes. */
  maxAttachmentBytes: 1024 * 1024,
  /** Bytes per upload chunk: small enough that progress moves, large enough to stay cheap. */
  uploadChunkBytes: 32 * 1024,
  /** Longest member or room name. */
  maxNameLength: 24,
  /** Longest attachment file name kept (longer names are cut). */
  maxFileNameLength: 120,
  /** Messages a room keeps and replays to a new follower. */
  historySize: 200,
} as const;

/** Names of members and rooms: letters, digits, space, dot, dash, underscore. */
export const NAME_PATTERN = /^[\p{L}\p{N}][\p{L}\p{N} ._-]*$/u;

/** The rooms that exist from the start. */
export const DEFAULT_ROOMS = ["general", "random", "help"] as const;

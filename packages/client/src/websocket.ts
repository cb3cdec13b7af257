// In a browser bundle "isomorphic-ws" resolves (package.json "browser" field) to a file that
// re-exports the global WebSocket, so nothing Node-only reaches the bundle.
import IsomorphicWebSocket from "isomorphic-ws";

/**
 * The part of a WHATWG WebSocket the transport needs. The event handler properties are typed
 * `unknown` so that both the DOM `WebSocket` and `ws` fit; the transport assigns them itself.
 */
export interface WebSocketLike {
  binaryType: string;
  readonly protocol: string;
  readonly bufferedAmount: number;
  onopen: unknown;
  onmessage: unknown;
  onerror: unknown;
  onclose: unknown;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket class: the DOM's `WebSocket`, `ws`'s `WebSocket`, or anything shaped like them. */
export type WebSocketConstructor = new (url: string, protocols: string | string[]) => WebSocketLike;

/** How the transport drives a socket (the WHATWG event handlers, typed). */
export interface Socket {
  binaryType: string;
  readonly protocol: string;
  readonly bufferedAmount: number;
  onopen: (() => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onerror: ((event: { message?: string; error?: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  /** `ws` calls `written` once the bytes are written out; browsers ignore it (they copy at once). */
  send(data: Uint8Array, written?: (error?: Error) => void): void;
  close(code?: number, reason?: string): void;
  /** `ws` only: drops the TCP connection without a closing handshake. */
  terminate?(): void;
}

/**
 * True for `ws`, which may keep a reference to sent bytes until written (it skips the masking
 * copy when the random mask happens to be zero); browsers' WebSocket copies in `send()`.
 */
export function keepsSentBytes(socket: Socket): boolean {
  return typeof socket.terminate === "function";
}

type SocketConstructor = new (
  url: string,
  protocols: string[],
  options: { perMessageDeflate: boolean; headers?: Readonly<Record<string, string>> },
) => Socket;

/**
 * `ws` in Node (its TCP socket can be unref'd, so an idle client lets the process exit, and it
 * returns sent memory for reuse; it also takes upgrade `headers`), the global WebSocket elsewhere
 * (browsers, Deno, workers), which cannot send `headers`: asking for them there throws TypeError.
 */
export function defaultWebSocket(headers?: object): WebSocketConstructor {
  const inNode =
    typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === "string";
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (inNode || global === undefined) return IsomorphicWebSocket as unknown as WebSocketConstructor;
  if (headers !== undefined) {
    throw new TypeError(
      "grpc-ws: the headers option needs Node's ws WebSocket; a browser cannot set headers on a WebSocket (use the token option)",
    );
  }
  return global;
}

/**
 * Opens a socket. `perMessageDeflate: false` matters for `ws`: with compression negotiated `ws`
 * queues a reference to the sent bytes, and the frame writer reuses its buffer after `send()`.
 */
export function openSocket(
  ctor: WebSocketConstructor,
  url: string,
  protocols: string[],
  headers?: Readonly<Record<string, string>>,
): Socket {
  const socket = new (ctor as unknown as SocketConstructor)(url, protocols, {
    perMessageDeflate: false,
    ...(headers ? { headers } : {}),
  });
  socket.binaryType = "arraybuffer";
  return socket;
}

/** A binary message as a Uint8Array; undefined for text, which the protocol does not use. */
export function messageBytes(data: unknown): Uint8Array | undefined {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (data instanceof Uint8Array) return data;
  return undefined;
}

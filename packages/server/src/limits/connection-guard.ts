import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { CloseCode, ErrorCode, SessionClosedError, type Session } from "@grpc-ws/wire";
import type { WebSocket } from "ws";
import type { ResolvedLimits } from "./options.js";

/** What the guard needs of a bridge connection. */
export interface GuardedConnection {
  readonly session: Session;
  readonly ws: WebSocket;
  /** Cancels every call (UNAVAILABLE) and closes the socket. */
  shutdown(message: string): void;
}

interface Watch {
  socket: Duplex;
  idleSince: number | undefined;
  idleClosing: boolean;
  /** Bytes the socket had passed to the kernel at the last progress seen, and when. */
  written: number;
  stalledSince: number | undefined;
}

/** Time the socket gets between GOAWAY for idleness and the close, for a HEADERS already in flight to be refused. */
const IDLE_GOAWAY_GRACE_MS = 1_000;

/**
 * Counts connections (total and per client address) from the upgrade request until the socket
 * closes, and sweeps open connections for idleness and for peers that stopped reading.
 */
export class ConnectionGuard {
  private total = 0;
  private readonly perAddress = new Map<string, number>();
  private readonly watched = new Map<GuardedConnection, Watch>();
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly limits: ResolvedLimits,
    private readonly socketHighWaterMark: number,
  ) {}

  /**
   * Counts an upgrade request against the limits until `socket` closes. Returns why it is refused
   * (then nothing is counted), or undefined.
   */
  admit(request: IncomingMessage, socket: Duplex): string | undefined {
    const { maxConnections, maxConnectionsPerAddress } = this.limits;
    if (maxConnections > 0 && this.total >= maxConnections)
      return `the server has its maximum of ${maxConnections} connections`;
    const address =
      maxConnectionsPerAddress > 0 ? ((this.limits.clientAddress ?? remoteAddress)(request) ?? "") : undefined;
    const count = address === undefined ? 0 : (this.perAddress.get(address) ?? 0);
    if (address !== undefined && count >= maxConnectionsPerAddress) {
      return `${address || "this address"} has the maximum of ${maxConnectionsPerAddress} connections`;
    }
    this.total++;
    if (address !== undefined) this.perAddress.set(address, count + 1);
    socket.once("close", () => {
      this.total--;
      if (address === undefined) return;
      const n = (this.perAddress.get(address) ?? 1) - 1;
      if (n > 0) this.perAddress.set(address, n);
      else this.perAddress.delete(address);
    });
    return undefined;
  }

  /** Connections counted now (open and upgrading). */
  get count(): number {
    return this.total;
  }

  /** Watches an open connection for idleness and a stalled reader until `forget`. */
  watch(connection: GuardedConnection, socket: Duplex): void {
    const { idleTimeoutMs, slowReaderTimeoutMs } = this.limits;
    if (idleTimeoutMs === 0 && slowReaderTimeoutMs === 0) return;
    this.watched.set(connection, {
      socket,
      idleSince: Date.now(),
      idleClosing: false,
      written: 0,
      stalledSince: undefined,
    });
    if (!this.timer) {
      const shortest = Math.min(...[idleTimeoutMs, slowReaderTimeoutMs].filter((t) => t > 0));
      this.timer = setInterval(() => this.sweep(), Math.max(20, Math.min(1_000, Math.floor(shortest / 4))));
      this.timer.unref();
    }
  }

  forget(connection: GuardedConnection): void {
    this.watched.delete(connection);
    if (this.watched.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.watched.clear();
  }

  private sweep(): void {
    const now = Date.now();
    for (const [connection, w] of this.watched) {
      if (connection.session.closed) continue;
      if (this.limits.idleTimeoutMs > 0) this.checkIdle(connection, w, now);
      if (this.limits.slowReaderTimeoutMs > 0) this.checkReader(connection, w, now);
    }
  }

  private checkIdle(connection: GuardedConnection, w: Watch, now: number): void {
    const session = connection.session;
    if (session.activeStreams > 0) {
      w.idleSince = undefined;
      return;
    }
    w.idleSince ??= now;
    if (w.idleClosing || now - w.idleSince < this.limits.idleTimeoutMs) return;
    w.idleClosing = true;
    // GOAWAY first: a HEADERS already on its way is refused (the client retries it) rather than lost.
    session.goAway(ErrorCode.NO_ERROR, `idle for ${this.limits.idleTimeoutMs} ms`);
    setTimeout(() => {
      void session
        .whenIdle()
        .then(() =>
          session.close(
            new SessionClosedError(`closed after ${this.limits.idleTimeoutMs} ms without a call`),
            CloseCode.NORMAL,
          ),
        );
    }, IDLE_GOAWAY_GRACE_MS).unref();
  }

  // A socket holding more than the high-water mark that writes nothing out: the peer stopped reading.
  private checkReader(connection: GuardedConnection, w: Watch, now: number): void {
    if (connection.ws.bufferedAmount <= this.socketHighWaterMark) {
      w.stalledSince = undefined;
      return;
    }
    const written = bytesToKernel(w.socket);
    if (w.stalledSince === undefined || written !== w.written) {
      w.written = written;
      w.stalledSince = now;
      return;
    }
    if (now - w.stalledSince < this.limits.slowReaderTimeoutMs) return;
    this.forget(connection);
    connection.shutdown(`the client read nothing for ${this.limits.slowReaderTimeoutMs} ms`);
    // Nothing more reaches a peer that does not read, not even the close handshake.
    connection.ws.terminate();
  }
}

function remoteAddress(request: IncomingMessage): string | undefined {
  return request.socket.remoteAddress;
}

// Bytes the socket handed to the kernel: Node's bytesWritten also counts what still waits in its buffer.
function bytesToKernel(socket: Duplex): number {
  const s = socket as Duplex & { bytesWritten?: number };
  return (s.bytesWritten ?? 0) - s.writableLength;
}

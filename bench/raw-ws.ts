// The floor: plain `ws` messages with a one-byte opcode, no framing, no protobuf, no streams.
//   ECHO   [1, ...]                         the server sends the message back (unary, 100 in flight)
//   STREAM [2, count u32, size u32, cork]   the server sends `count` messages of `size` bytes;
//                                           cork=1: 64 sends per socket cork (one write syscall)
//   PUSH   [3, ...]                         the server counts the message (client streaming)
//   END    [4]                              the server answers the count as 4 bytes
//   STOP   [5]                              the server stops the current STREAM early
// A STREAM ends with a one-byte [END] message, also when stopped.
import type { AddressInfo } from "node:net";
import type { Socket } from "node:net";
import { WebSocket, WebSocketServer, type RawData } from "ws";
import { MAX_COUNT, body } from "./service.js";

export const OP = { ECHO: 1, STREAM: 2, PUSH: 3, END: 4, STOP: 5 } as const;
const END_MARK = Buffer.from([OP.END]);
const HIGH_WATER = 1024 * 1024;
const CORK_BATCH = 64;

function bytes(data: RawData): Buffer {
  return Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

export async function startRawWsServer(): Promise<{ target: string; close: () => Promise<void> }> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false, clientTracking: true });
  await new Promise<void>((resolve) => wss.once("listening", resolve));
  wss.on("connection", (ws, request) => {
    const socket = request.socket as Socket;
    let pushed = 0;
    const state = { stop: false };
    ws.on("message", (data) => {
      const m = bytes(data);
      switch (m[0]) {
        case OP.ECHO:
          ws.send(m);
          break;
        case OP.STREAM:
          state.stop = false;
          stream(
            ws,
            socket,
            Math.min(MAX_COUNT, m.readUInt32BE(1)),
            body(Math.max(2, m.readUInt32BE(5))),
            m[9] === 1,
            state,
          );
          break;
        case OP.STOP:
          state.stop = true;
          break;
        case OP.PUSH:
          pushed++;
          break;
        case OP.END: {
          const r = Buffer.alloc(4);
          r.writeUInt32BE(pushed);
          pushed = 0;
          ws.send(r);
          break;
        }
      }
    });
    ws.on("error", () => undefined);
  });
  const { port } = wss.address() as AddressInfo;
  return {
    target: `ws://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
}

// Sends `count` messages, waiting for the socket to drain above 1 MiB buffered.
function stream(
  ws: WebSocket,
  socket: Socket,
  count: number,
  payload: Uint8Array,
  cork: boolean,
  state: { stop: boolean },
): void {
  let sent = 0;
  const pump = (): void => {
    while (sent < count && !state.stop) {
      if (ws.readyState !== WebSocket.OPEN) return;
      if (ws.bufferedAmount > HIGH_WATER) {
        socket.once("drain", pump);
        return;
      }
      if (cork) {
        socket.cork();
        const end = Math.min(count, sent + CORK_BATCH);
        for (; sent < end; sent++) ws.send(payload);
        socket.uncork();
      } else {
        ws.send(payload);
        sent++;
      }
    }
    ws.send(END_MARK);
  };
  pump();
}

/** The client side of the floor, on one `ws` connection. */
export class RawWsClient {
  private waiters: Array<(m: Buffer) => void> = [];
  private onMessage: ((m: Buffer) => void) | undefined;

  private constructor(private readonly ws: WebSocket) {
    ws.on("message", (data) => {
      const m = bytes(data);
      if (this.onMessage) return this.onMessage(m);
      this.waiters.shift()?.(m);
    });
  }

  static async connect(url: string): Promise<RawWsClient> {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    return new RawWsClient(ws);
  }

  /** One request, one answer (answers arrive in order, so concurrent calls match up FIFO). */
  echo(request: Uint8Array): Promise<Buffer> {
    return new Promise<Buffer>((resolve) => {
      this.waiters.push(resolve);
      this.ws.send(request);
    });
  }

  /** Asks for `count` messages of `size` bytes (at least 2); resolves with the count received, once the END mark arrived. At `deadline` it asks the server to stop. */
  stream(count: number, size: number, cork: boolean, deadline: number): Promise<number> {
    const req = Buffer.alloc(10);
    req[0] = OP.STREAM;
    req.writeUInt32BE(count, 1);
    req.writeUInt32BE(size, 5);
    req[9] = cork ? 1 : 0;
    return new Promise<number>((resolve) => {
      let n = 0;
      const timer = setTimeout(() => this.ws.send(Buffer.from([OP.STOP])), Math.max(0, deadline - performance.now()));
      this.onMessage = (m) => {
        if (m.length > 1) return void n++;
        clearTimeout(timer);
        this.onMessage = undefined;
        resolve(n);
      };
      this.ws.send(req);
    });
  }

  /** Sends up to `count` messages of `size` bytes (waiting above 1 MiB buffered; none after `deadline`), then END; resolves with the server's count. */
  async push(count: number, size: number, deadline: number): Promise<number> {
    const m = Buffer.alloc(size);
    m[0] = OP.PUSH;
    for (let i = 0; i < count; i++) {
      if ((i & 255) === 255 && performance.now() > deadline) break;
      if (this.ws.bufferedAmount > HIGH_WATER) await new Promise<void>((resolve) => this.ws.send(m, () => resolve()));
      else this.ws.send(m);
    }
    const answer = await this.echo(Buffer.from([OP.END]));
    return answer.readUInt32BE(0);
  }

  close(): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) return resolve();
      this.ws.once("close", () => resolve());
      this.ws.close();
    });
  }
}

// Test helper (not exported by the package): a TCP proxy on 127.0.0.1 that counts the bytes
// it relays and can stop relaying one direction, to observe and stall the gateway's upstream leg.
import net from "node:net";

export interface CountingProxy {
  port: number;
  /** "http://127.0.0.1:PORT". */
  url: string;
  /** Bytes relayed from the upstream server to the gateway. */
  readonly downBytes: number;
  /** Bytes relayed from the gateway to the upstream server. */
  readonly upBytes: number;
  /** Connections the gateway has opened through the proxy so far. */
  readonly accepted: number;
  /** Of those, the ones still open. */
  readonly open: number;
  /** HTTP/2 frames the gateway sent, by frame type (0x3: RST_STREAM). */
  readonly upFrames: ReadonlyMap<number, number>;
  /** Stop (true) or resume (false) reading what the gateway sends; TCP backpressure does the rest. */
  stallUpstream(stalled: boolean): void;
  close(): Promise<void>;
}

export async function startCountingProxy(targetPort: number): Promise<CountingProxy> {
  let downBytes = 0;
  let upBytes = 0;
  let stalled = false;
  let accepted = 0;
  const upFrames = new Map<number, number>();
  const fromGateway = new Set<net.Socket>();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, "127.0.0.1");
    for (const s of [client, upstream]) {
      // Without it, Nagle and delayed ACKs add tens of ms to small writes.
      s.setNoDelay(true);
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    accepted++;
    fromGateway.add(client);
    client.on("close", () => fromGateway.delete(client));
    if (stalled) client.pause();
    const frames = new H2FrameCounter(upFrames);
    client.on("data", (chunk: Buffer) => {
      upBytes += chunk.length;
      frames.push(chunk);
      if (!upstream.write(chunk)) client.pause();
    });
    upstream.on("drain", () => {
      if (!stalled) client.resume();
    });
    upstream.on("data", (chunk: Buffer) => {
      downBytes += chunk.length;
      if (!client.write(chunk)) upstream.pause();
    });
    client.on("drain", () => upstream.resume());
    client.on("end", () => upstream.end());
    upstream.on("end", () => client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    get downBytes() {
      return downBytes;
    },
    get upBytes() {
      return upBytes;
    },
    upFrames,
    get accepted() {
      return accepted;
    },
    get open() {
      return fromGateway.size;
    },
    stallUpstream(value) {
      stalled = value;
      for (const s of fromGateway) {
        if (value) s.pause();
        else s.resume();
      }
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Counts the frames of one HTTP/2 client connection (after its 24-byte preface) by type. */
class H2FrameCounter {
  private skip = 24;
  private header = Buffer.alloc(9);
  private headerFill = 0;
  constructor(private readonly counts: Map<number, number>) {}

  push(chunk: Buffer): void {
    let o = 0;
    while (o < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - o);
        this.skip -= n;
        o += n;
        continue;
      }
      const n = Math.min(9 - this.headerFill, chunk.length - o);
      chunk.copy(this.header, this.headerFill, o, o + n);
      this.headerFill += n;
      o += n;
      if (this.headerFill < 9) return;
      this.headerFill = 0;
      const type = this.header[3]!;
      this.counts.set(type, (this.counts.get(type) ?? 0) + 1);
      this.skip = this.header.readUIntBE(0, 3);
    }
  }
}

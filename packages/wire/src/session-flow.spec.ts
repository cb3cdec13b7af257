import { afterEach, describe, expect, test } from "vitest";
import { connect, until, type Wire } from "./session-harness.test-util.js";
import { SessionClosedError } from "./errors.js";
import type { Session } from "./session.js";
import { Status } from "./status.js";
import type { Stream } from "./stream.js";
import { createTrailers } from "./trailers.js";

const opened: Session[] = [];
afterEach(() => {
  for (const s of opened.splice(0)) s.close(new SessionClosedError("test over"), 0);
});

// Replays the wire log in delivery order and checks that no DATA exceeded the credit the sender had been given.
function checkWindows(wire: Wire, from: "client" | "server", streamWindow: number, connectionWindow: number): number {
  const credit = new Map<number, number>();
  let connection = connectionWindow;
  let maxFrame = 0;
  for (const message of wire.log) {
    for (const f of message.frames) {
      if (message.from === from && f.type === "DATA") {
        const left = credit.get(f.streamId) ?? streamWindow;
        expect(f.length, `DATA on stream ${f.streamId}`).toBeLessThanOrEqual(left);
        expect(f.length).toBeLessThanOrEqual(connection);
        credit.set(f.streamId, left - f.length);
        connection -= f.length;
        maxFrame = Math.max(maxFrame, f.length);
      } else if (message.from !== from && f.type === "WINDOW_UPDATE") {
        if (f.streamId === 0) connection += f.increment!;
        else credit.set(f.streamId, (credit.get(f.streamId) ?? streamWindow) + f.increment!);
      }
    }
  }
  return maxFrame;
}

function collect(stream: Stream, into: Uint8Array[]): void {
  let m: Uint8Array | undefined;
  while ((m = stream.read())) into.push(m.slice());
}

describe("Session flow control", () => {
  test("large messages over small windows pass both ways; no frame exceeds a window or MAX_FRAME_SIZE", async () => {
    const windows = { initialStreamWindow: 1000, initialConnectionWindow: 3000, maxFrameSize: 1024 };
    const { client, wire } = await connect(
      { settings: windows },
      {
        settings: windows,
        onStream(stream) {
          stream.sendHeaders([]);
          stream.events = {
            onReadable() {
              const got: Uint8Array[] = [];
              collect(stream, got);
              for (const m of got) stream.write(m);
              if (stream.remoteEnded) stream.sendTrailers(createTrailers(Status.OK));
            },
          };
        },
      },
    );
    opened.push(client);
    const sizes = [100_000, 0, 3000, 1];
    const results = await Promise.all(
      [0, 1, 2].map(
        (k) =>
          new Promise<Uint8Array[]>((resolve, reject) => {
            const got: Uint8Array[] = [];
            const s = client.openStream("/big/echo", [], {
              onReadable: () => collect(s, got),
              onTrailers: () => resolve(got),
              onReset: (_code, e) => reject(e),
            });
            for (const size of sizes) s.write(new Uint8Array(size).fill(k + 1));
            s.halfClose();
          }),
      ),
    );
    for (const [k, got] of results.entries()) {
      expect(got.map((m) => m.length)).toEqual(sizes);
      expect(got.every((m) => m.every((b) => b === k + 1))).toBe(true);
    }
    expect(checkWindows(wire, "client", 1000, 3000)).toBeLessThanOrEqual(1000);
    expect(checkWindows(wire, "server", 1000, 3000)).toBeLessThanOrEqual(1000);
  });

  test("a stalled reader stops the sender on that stream only; reading resumes it", async () => {
    const window = 4096;
    const streams: Stream[] = [];
    const received = new Map<number, Uint8Array[]>();
    let stallId = 0;
    const { client, server, wire } = await connect(
      {},
      {
        settings: { initialStreamWindow: window },
        onStream(stream) {
          streams.push(stream);
          received.set(stream.id, []);
          stream.sendHeaders([]);
          stream.events = {
            onReadable() {
              if (stream.id === stallId) return; // nobody reads this one
              collect(stream, received.get(stream.id)!);
              if (stream.remoteEnded) stream.sendTrailers(createTrailers(Status.OK));
            },
          };
        },
      },
    );
    opened.push(client, server);
    stallId = 1;
    const stalled = client.openStream("/s/stalled", [], {});
    let writable = true;
    let writes = 0;
    let wakeups = 0;
    stalled.events.onWritable = () => wakeups++;
    while (writable && writes < 1000) {
      writable = stalled.write(new Uint8Array(1000));
      writes++;
    }
    expect(writable).toBe(false); // the high-water mark holds the sender back
    expect(writes).toBeLessThan(1000);

    // The other stream completes while stream 1 sits at its window.
    const done = new Promise<void>((resolve) => {
      const other = client.openStream("/s/other", [], { onTrailers: () => resolve() });
      for (let i = 0; i < 50; i++) other.write(new Uint8Array(1000));
      other.halfClose();
    });
    await done;
    expect(received.get(3)!.length).toBe(50);
    const stalledServer = streams[0]!;
    // Only one window's worth crossed the wire for the stalled stream.
    const sentOnStalled = wire
      .frames("client")
      .filter((f) => f.type === "DATA" && f.streamId === 1)
      .reduce((n, f) => n + f.length, 0);
    expect(sentOnStalled).toBe(window);
    expect(stalledServer.queuedBytes).toBeLessThanOrEqual(window);
    expect(stalled.writable).toBe(false);

    // Reading drains it: credit goes back, the client's queue empties and onWritable fires.
    stallId = 0;
    stalled.halfClose();
    const got: Uint8Array[] = [];
    await until(() => {
      collect(stalledServer, got);
      return stalledServer.remoteEnded && stalledServer.readableLength === 0;
    }, "stalled stream to drain");
    // The server's own onReadable takes over once unstalled, so count both readers.
    expect(got.length + received.get(1)!.length).toBe(writes);
    expect(wakeups).toBeGreaterThan(0);
    checkWindows(wire, "client", window, 4 * 1024 * 1024);
  });

  test("connection credit returns on receipt, so one stalled stream cannot block the connection", async () => {
    const settings = { initialStreamWindow: 2000, initialConnectionWindow: 2000 };
    let stalledId = 1;
    const { client, wire } = await connect(
      {},
      {
        settings,
        onStream(stream) {
          stream.sendHeaders([]);
          stream.events = {
            onReadable() {
              if (stream.id === stalledId) return;
              while (stream.read());
              if (stream.remoteEnded) stream.sendTrailers(createTrailers(Status.OK));
            },
          };
        },
      },
    );
    opened.push(client);
    const a = client.openStream("/c/a", []);
    for (let i = 0; i < 10; i++) a.write(new Uint8Array(500));
    const ok = await new Promise<boolean>((resolve) => {
      const b = client.openStream("/c/b", [], { onTrailers: () => resolve(true), onReset: () => resolve(false) });
      for (let i = 0; i < 20; i++) b.write(new Uint8Array(500));
      b.halfClose();
    });
    expect(ok).toBe(true);
    stalledId = 0;
    checkWindows(wire, "client", 2000, 2000);
  });
});

describe("trailers that discard queued messages", () => {
  // A deadline on a stalled stream: the status must not wait behind data the client will never read.
  async function stalledStream(messageSize: number) {
    let serverStream: Stream | undefined;
    const { client, server, wire } = await connect(
      { settings: { initialStreamWindow: 4096 } },
      {
        onStream(stream) {
          serverStream = stream;
          stream.sendHeaders([]);
          for (let i = 0; i < 8; i++) stream.write(new Uint8Array(messageSize));
        },
      },
    );
    opened.push(client, server);
    const ended = new Promise<{ trailers?: string; reset?: number }>((resolve) => {
      client.openStream("/slow/reader", [], {
        onTrailers: (t) => resolve({ trailers: String(t.find(([n]) => n === "grpc-status")?.[1]) }),
        onReset: (code) => resolve({ reset: code }),
      });
    });
    await until(() => serverStream !== undefined && serverStream.pendingBytes > 0, "queued server data");
    return { stream: serverStream!, ended, wire };
  }

  test("whole messages still queued are dropped and the trailers go out at once", async () => {
    // Messages of exactly one window: the first fills it, the rest wait whole.
    const { stream, ended } = await stalledStream(4096 - 5);
    expect(stream.pendingBytes).toBeGreaterThan(0);
    stream.sendTrailers(createTrailers(Status.DEADLINE_EXCEEDED, "deadline"), true);
    expect(stream.pendingBytes).toBe(0);
    expect(await ended).toEqual({ trailers: String(Status.DEADLINE_EXCEEDED) });
  });

  test("a half-sent message turns the trailers into RST_STREAM(CANCEL)", async () => {
    const { stream, ended } = await stalledStream(3000);
    stream.sendTrailers(createTrailers(Status.DEADLINE_EXCEEDED, "deadline"), true);
    expect(stream.closed).toBe(true);
    expect(await ended).toEqual({ reset: 0x8 });
  });

  test("without discardQueued the trailers wait for the queued data", async () => {
    const { stream } = await stalledStream(4096 - 5);
    stream.sendTrailers(createTrailers(Status.OK), false);
    expect(stream.closed).toBe(false);
    expect(stream.pendingBytes).toBeGreaterThan(0);
  });
});

test("an oversize request while a response message is half sent resets the stream instead of cutting the message with trailers", async () => {
  let serverStream: Stream | undefined;
  const { client, server } = await connect(
    { settings: { initialStreamWindow: 4096 } },
    {
      settings: { maxMessageSize: 1024 },
      onStream(stream) {
        serverStream = stream;
        stream.sendHeaders([]);
        for (let i = 0; i < 8; i++) stream.write(new Uint8Array(3000)); // the window cuts the second one
      },
    },
  );
  opened.push(client, server);
  const outcome = new Promise<{ trailers?: boolean; reset?: number }>((resolve) => {
    const s = client.openStream("/big/answer", [], {
      onTrailers: () => resolve({ trailers: true }),
      onReset: (code) => resolve({ reset: code }),
    });
    void until(() => serverStream !== undefined && serverStream.pendingBytes > 0, "half-sent response").then(() =>
      s.write(new Uint8Array(2000)),
    );
  });
  expect(await outcome).toEqual({ reset: 0x8 });
});

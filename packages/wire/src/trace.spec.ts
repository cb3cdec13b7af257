// The opt-in trace hook: every frame in and out, and every stream state change, as one line each.
import { afterEach, expect, test } from "vitest";
import type { SessionClosedError } from "./errors.js";
import { connect, until } from "./session-harness.test-util.js";
import type { Session } from "./session.js";
import { Status } from "./status.js";
import { traceFromEnv } from "./trace.js";
import { createTrailers } from "./trailers.js";

const opened: Session[] = [];
afterEach(() => {
  for (const s of opened.splice(0))
    s.close({ message: "test over", code: 0, remote: false, name: "SessionClosedError" } as SessionClosedError, 0);
});

test("a traced unary call shows its frames both ways and its stream states, in order", async () => {
  const clientLines: string[] = [];
  const serverLines: string[] = [];
  const { client, server } = await connect(
    { trace: (line) => clientLines.push(line) },
    {
      trace: (line) => serverLines.push(line),
      onStream(stream) {
        stream.events = {
          onReadable() {
            const m = stream.read();
            if (m) stream.write(m);
            if (stream.remoteEnded) stream.sendTrailers(createTrailers(Status.OK));
          },
        };
        stream.sendHeaders([]);
      },
    },
  );
  opened.push(client, server);
  let done = false;
  client.openStream("/a.B/C", [], { onTrailers: () => (done = true) }).halfClose(new Uint8Array([1, 2, 3]));
  await until(() => done, "the call to end");

  expect(clientLines.filter((l) => l.startsWith(">") || l.startsWith("<"))).toEqual([
    "> SETTINGS stream=0 flags=0x0 length=" + clientLines[0]!.split("length=")[1],
    "< SETTINGS stream=0 flags=0x0 length=" + clientLines[1]!.split("length=")[1],
    "> HEADERS stream=1 flags=0x0 length=" + clientLines.find((l) => l.startsWith("> HEADERS"))!.split("length=")[1],
    "> DATA stream=1 flags=0x1 length=8",
    "< HEADERS stream=1 flags=0x0 length=0",
    "< DATA stream=1 flags=0x0 length=8",
    "< TRAILERS stream=1 flags=0x0 length=" + clientLines.find((l) => l.startsWith("< TRAILERS"))!.split("length=")[1],
  ]);
  expect(clientLines.filter((l) => l.startsWith("stream"))).toEqual([
    "stream 1 open -> half-closed",
    "stream 1 half-closed -> closed",
  ]);
  expect(serverLines.filter((l) => l.startsWith("stream"))).toEqual([
    "stream 1 open -> remote-ended",
    "stream 1 remote-ended -> closed",
  ]);
  expect(serverLines).toContain("< DATA stream=1 flags=0x1 length=8");
});

test("GRPC_WS_TRACE turns on a stderr sink; unset or 0 leaves tracing off", () => {
  const saved = process.env.GRPC_WS_TRACE;
  try {
    delete process.env.GRPC_WS_TRACE;
    expect(traceFromEnv()).toBeUndefined();
    process.env.GRPC_WS_TRACE = "0";
    expect(traceFromEnv()).toBeUndefined();
    process.env.GRPC_WS_TRACE = "1";
    const sink = traceFromEnv();
    expect(sink).toBeTypeOf("function");
    const written: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string) => (written.push(chunk), true)) as typeof process.stderr.write;
    try {
      sink!("> PING stream=0 flags=0x0 length=8");
    } finally {
      process.stderr.write = write;
    }
    expect(written).toHaveLength(1);
    expect(written[0]).toMatch(/^\d{4}-\d\d-\d\dT.* grpc-ws > PING stream=0 flags=0x0 length=8\n$/);
  } finally {
    if (saved === undefined) delete process.env.GRPC_WS_TRACE;
    else process.env.GRPC_WS_TRACE = saved;
  }
});

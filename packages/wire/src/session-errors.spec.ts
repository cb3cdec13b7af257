import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { CloseCode, ErrorCode } from "./constants.js";
import { hex, scripted, tick } from "./session-harness.test-util.js";
import { RESET_BURST } from "./budget.js";
import type { SessionClosedError } from "./errors.js";
import type { Stream } from "./stream.js";

const SETTINGS = "000000 04 00 00000000"; // empty SETTINGS: the peer uses the defaults
const HEADERS = (id: string, flags = "00") => `00000d 01 ${flags} ${id} 0005 00000002 3a70617468 2f61`; // [[":path", "/a"]]
const DATA = (id: string, flags = "00", payload = "") =>
  `${(payload.replace(/\s/g, "").length / 2).toString(16).padStart(6, "0")} 00 ${flags} ${id} ${payload}`;

interface Case {
  name: string;
  role: "client" | "server";
  messages: string[];
  code: keyof typeof ErrorCode;
  close?: number;
  match: string;
}

// Every connection error: the session answers with GOAWAY(code) and closes the WebSocket.
const connectionErrors: Case[] = [
  {
    name: "first frame is not SETTINGS",
    role: "server",
    messages: [HEADERS("00000001")],
    code: "PROTOCOL_ERROR",
    match: "first frame must be SETTINGS",
  },
  {
    name: "SETTINGS twice",
    role: "server",
    messages: [SETTINGS, SETTINGS],
    code: "PROTOCOL_ERROR",
    match: "only once",
  },
  {
    name: "invalid SETTINGS window",
    role: "client",
    messages: ["000006 04 00 00000000 0001 00000000"],
    code: "FLOW_CONTROL_ERROR",
    match: "initialStreamWindow",
  },
  {
    name: "truncated frame",
    role: "server",
    messages: [SETTINGS + " 000004 03 00 00000001 0000"],
    code: "FRAME_SIZE_ERROR",
    match: "truncated",
  },
  {
    name: "frame over the advertised MAX_FRAME_SIZE",
    role: "server",
    messages: [SETTINGS + " 004001 00 00 00000001"],
    code: "FRAME_SIZE_ERROR",
    match: "exceeds max frame size 16384",
  },
  {
    name: "unknown frame type",
    role: "client",
    messages: [SETTINGS + " 000000 09 00 00000000"],
    code: "PROTOCOL_ERROR",
    match: "unknown frame type",
  },
  {
    name: "malformed metadata",
    role: "server",
    messages: [SETTINGS, "000002 01 00 00000001 0000"],
    code: "PROTOCOL_ERROR",
    match: "malformed metadata",
  },
  {
    name: "even stream id from a client",
    role: "server",
    messages: [SETTINGS, HEADERS("00000002")],
    code: "PROTOCOL_ERROR",
    match: "odd and increasing",
  },
  {
    name: "decreasing stream id",
    role: "server",
    messages: [SETTINGS, HEADERS("00000005"), HEADERS("00000003")],
    code: "PROTOCOL_ERROR",
    match: "odd and increasing",
  },
  {
    name: "a second HEADERS on an open stream (request)",
    role: "server",
    messages: [SETTINGS, HEADERS("00000001"), HEADERS("00000001")],
    code: "PROTOCOL_ERROR",
    match: "odd and increasing",
  },
  {
    name: "TRAILERS from a client",
    role: "server",
    messages: [SETTINGS, HEADERS("00000001"), "000000 02 00 00000001"],
    code: "PROTOCOL_ERROR",
    match: "must not send TRAILERS",
  },
  {
    name: "DATA on a stream never opened",
    role: "server",
    messages: [SETTINGS, DATA("00000007")],
    code: "PROTOCOL_ERROR",
    match: "never opened",
  },
  {
    name: "RST_STREAM on a stream never opened",
    role: "client",
    messages: [SETTINGS, "000004 03 00 00000001 00000008"],
    code: "PROTOCOL_ERROR",
    match: "never opened",
  },
  {
    name: "HEADERS on an even (server-initiated) stream",
    role: "client",
    messages: [SETTINGS, "000000 01 00 00000002"],
    code: "PROTOCOL_ERROR",
    match: "never opened",
  },
  {
    name: "WINDOW_UPDATE over 2^31-1 on the connection",
    role: "server",
    messages: [SETTINGS, "000004 07 00 00000000 7fffffff"],
    code: "FLOW_CONTROL_ERROR",
    match: "connection window",
  },
  {
    name: "DATA beyond the connection window",
    role: "server",
    messages: [SETTINGS, HEADERS("00000001"), DATA("00000001", "00", "00".repeat(1000))],
    code: "FLOW_CONTROL_ERROR",
    match: "connection window",
  },
];

function open(role: "client" | "server", onStream?: (s: Stream) => void, initialStreamWindow?: number) {
  const closed: SessionClosedError[] = [];
  return {
    closed,
    ...scripted({
      role,
      // A tiny connection window makes the connection-window case reachable with small frames.
      settings: {
        initialConnectionWindow: 999,
        maxFrameSize: 16384,
        ...(initialStreamWindow ? { initialStreamWindow } : {}),
      },
      onClose: (e) => closed.push(e),
      onStream: onStream ? (s) => onStream(s) : undefined,
    }),
  };
}

describe("Session: connection errors send GOAWAY and close the WebSocket", () => {
  for (const c of connectionErrors) {
    test(c.name, async () => {
      const raw = open(c.role);
      for (const m of c.messages) raw.session.receive(hex(m));
      await tick();
      const goaway = raw.frames().find((f) => f.type === "GOAWAY");
      expect(goaway, "GOAWAY sent").toBeDefined();
      expect(goaway!.code).toBe(ErrorCode[c.code]);
      expect(goaway!.debug).toContain(c.match);
      expect(raw.closes).toEqual([
        { code: c.close ?? CloseCode.PROTOCOL_ERROR, reason: expect.stringContaining(c.match) },
      ]);
      expect(raw.session.closed).toBe(true);
      expect(raw.closed[0]!.code).toBe(ErrorCode[c.code]);
      // Nothing more is accepted after the close.
      raw.session.receive(hex(SETTINGS));
      expect(raw.closes).toHaveLength(1);
    });
  }

  test("GOAWAY names the last stream the server saw, and open streams are reset", async () => {
    const resets: number[] = [];
    const raw = open("server", (s) => (s.events = { onReset: (code) => resets.push(code) }));
    raw.session.receive(hex([SETTINGS, HEADERS("00000001"), HEADERS("00000005")].join(" ")));
    raw.session.receive(hex("000000 09 00 00000000"));
    await tick();
    expect(raw.frames().find((f) => f.type === "GOAWAY")!.lastStreamId).toBe(5);
    expect(resets).toEqual([ErrorCode.CANCEL, ErrorCode.CANCEL]);
  });

  test("a text WebSocket message closes with 1003", async () => {
    const raw = open("server");
    raw.session.receive(hex(SETTINGS));
    raw.session.receiveText();
    await tick();
    expect(raw.frames().find((f) => f.type === "GOAWAY")!.code).toBe(ErrorCode.PROTOCOL_ERROR);
    expect(raw.closes[0]!.code).toBe(CloseCode.UNSUPPORTED_DATA);
  });

  test("an exception in this side's own callback is INTERNAL_ERROR with close 1011, not blamed on the peer", async () => {
    const raw = open("server", () => {
      throw new Error("handler bug");
    });
    raw.session.receive(hex([SETTINGS, HEADERS("00000001")].join(" ")));
    await tick();
    expect(raw.frames().find((f) => f.type === "GOAWAY")).toMatchObject({
      code: ErrorCode.INTERNAL_ERROR,
      debug: expect.stringContaining("handler bug"),
    });
    expect(raw.closes[0]!.code).toBe(CloseCode.INTERNAL_ERROR);
  });
});

describe("Session: stream errors reset one stream and keep the connection", () => {
  async function streamError(messages: string[], initialStreamWindow?: number) {
    const resets: Array<[number, number]> = [];
    const raw = open(
      "server",
      (s) => (s.events = { onReset: (code) => resets.push([s.id, code]) }),
      initialStreamWindow,
    );
    for (const m of messages) raw.session.receive(hex(m));
    await tick();
    expect(raw.session.closed).toBe(false);
    expect(raw.frames().some((f) => f.type === "GOAWAY")).toBe(false);
    return {
      rst: raw
        .frames()
        .filter((f) => f.type === "RST_STREAM")
        .map((f) => [f.streamId, f.code]),
      resets,
      raw,
    };
  }

  test("DATA beyond the stream window: RST_STREAM FLOW_CONTROL_ERROR", async () => {
    const { rst, resets } = await streamError(
      [SETTINGS, HEADERS("00000001"), DATA("00000001", "00", "00".repeat(17))],
      16,
    );
    expect(rst).toEqual([[1, ErrorCode.FLOW_CONTROL_ERROR]]);
    expect(resets).toEqual([[1, ErrorCode.FLOW_CONTROL_ERROR]]);
  });

  test("DATA after END_STREAM: RST_STREAM STREAM_CLOSED", async () => {
    const { rst, resets } = await streamError([SETTINGS, HEADERS("00000001", "01"), DATA("00000001", "00", "00")]);
    expect(rst).toEqual([[1, ErrorCode.STREAM_CLOSED]]);
    expect(resets).toEqual([[1, ErrorCode.STREAM_CLOSED]]);
  });

  test("request HEADERS without :path first: RST_STREAM PROTOCOL_ERROR", async () => {
    const { rst } = await streamError([SETTINGS, "000008 01 00 00000001 0001 00000001 6176"]);
    expect(rst).toEqual([[1, ErrorCode.PROTOCOL_ERROR]]);
  });

  test("frames for a stream that is already closed are ignored", async () => {
    const { rst, raw } = await streamError([
      SETTINGS,
      HEADERS("00000001"),
      "000004 03 00 00000001 00000008",
      DATA("00000001", "01", "00"),
      "000004 07 00 00000001 00000010",
    ]);
    expect(rst).toEqual([]);
    expect(raw.session.activeStreams).toBe(0);
  });
});

describe("Session: client-side stream errors", () => {
  async function clientStream(messages: string[]) {
    const raw = open("client");
    raw.session.receive(hex(SETTINGS));
    const resets: number[] = [];
    const stream = raw.session.openStream("/a/b", [], { onReset: (code) => resets.push(code) });
    for (const m of messages) raw.session.receive(hex(m.replace("ID", stream.id.toString(16).padStart(8, "0"))));
    await tick();
    return {
      rst: raw
        .frames()
        .filter((f) => f.type === "RST_STREAM")
        .map((f) => f.code),
      resets,
      raw,
    };
  }

  test("DATA before the response HEADERS: PROTOCOL_ERROR", async () => {
    const { rst, resets } = await clientStream([DATA("ID", "00", "00")]);
    expect(rst).toEqual([ErrorCode.PROTOCOL_ERROR]);
    expect(resets).toEqual([ErrorCode.PROTOCOL_ERROR]);
  });

  test("response HEADERS with END_STREAM, or a second HEADERS: PROTOCOL_ERROR", async () => {
    expect((await clientStream(["000000 01 01 ID"])).rst).toEqual([ErrorCode.PROTOCOL_ERROR]);
    expect((await clientStream(["000000 01 00 ID", "000000 01 00 ID"])).rst).toEqual([ErrorCode.PROTOCOL_ERROR]);
  });

  test("TRAILERS inside a message: the stream fails, no RST needed (already closed)", async () => {
    const { rst, resets } = await clientStream([
      "000000 01 00 ID",
      DATA("ID", "00", "00 00000005 01"),
      "000012 02 00 ID 000b 00000001 677270632d737461747573 30",
    ]);
    expect(rst).toEqual([]);
    expect(resets).toEqual([ErrorCode.PROTOCOL_ERROR]);
  });

  test("END_STREAM inside a message: the client cancels", async () => {
    const { rst } = await clientStream(["000000 01 00 ID", DATA("ID", "01", "00 00000005 01")]);
    expect(rst).toEqual([ErrorCode.CANCEL]);
  });
});

describe("Session: rapid reset", () => {
  // The bucket refills with wall time: a frozen clock keeps the counts exact however slow the machine.
  beforeEach(() => void vi.useFakeTimers({ toFake: ["Date"] }));
  afterEach(() => void vi.useRealTimers());

  const pair = (id: number) => {
    const sid = id.toString(16).padStart(8, "0");
    return `${HEADERS(sid)} 000004 03 00 ${sid} 00000008`;
  };

  test("streams opened and reset faster than RESET_RATE_PER_S after a RESET_BURST close the connection", async () => {
    let opened = 0;
    const raw = open("server", () => void opened++);
    raw.session.receive(hex(SETTINGS));
    // One message of 1001 open+reset pairs: the 1001st reset is over the burst.
    raw.session.receive(hex(Array.from({ length: RESET_BURST + 1 }, (_, i) => pair(2 * i + 1)).join(" ")));
    await tick();
    const goaway = raw.frames().find((f) => f.type === "GOAWAY");
    expect(goaway?.code).toBe(ErrorCode.ENHANCE_YOUR_CALM);
    expect(raw.closes[0]?.code).toBe(CloseCode.PROTOCOL_ERROR);
    expect(opened).toBe(RESET_BURST + 1);
  });

  test("ordinary cancels within the burst keep the connection", async () => {
    const raw = open("server", () => {});
    raw.session.receive(hex(SETTINGS));
    raw.session.receive(hex(Array.from({ length: 200 }, (_, i) => pair(2 * i + 1)).join(" ")));
    await tick();
    expect(raw.frames().some((f) => f.type === "GOAWAY")).toBe(false);
    expect(raw.session.closed).toBe(false);
  });
});

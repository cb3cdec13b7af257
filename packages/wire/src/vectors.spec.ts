import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { bearerSubprotocol, statusFromRefusalClose, tokenFromSubprotocol } from "./access.js";
import { DEFAULT_SETTINGS, readSettings } from "./settings.js";
import { ErrorCode, FrameType, FrameTypeName, MAX_STREAM_ID } from "./constants.js";
import { ProtocolError } from "./errors.js";
import { FrameReader } from "./frame-reader.js";
import { MessageError, MessageReader } from "./message.js";
import { readMetadata, type Metadata } from "./metadata.js";
import { Status } from "./status.js";
import { decodeStatusMessage, encodeStatusMessage } from "./status-message.js";
import { parseTimeout } from "./timeout.js";

// The vectors are the normative examples of docs/PROTOCOL.md, written from the spec, not by this encoder.
const VECTORS_URL = new URL("../../../docs/vectors/grpc-ws-v1.json", import.meta.url);

interface FrameVector {
  kind: "frames";
  description: string;
  hex: string;
  maxFrameSize?: number;
  frames?: Array<Record<string, unknown>>;
  error?: { code: keyof typeof ErrorCode; match: string };
}
interface MessageVector {
  kind: "message";
  description: string;
  chunks: string[];
  maxMessageSize: number;
  messages?: string[];
  partial?: number;
  error?: { status: keyof typeof Status; match: string };
}
interface TimeoutVector {
  kind: "timeout";
  description: string;
  value: string;
  ms?: number;
  invalid?: boolean;
}
interface StatusMessageVector {
  kind: "grpc-message";
  description: string;
  decoded: string;
  encoded: string;
  roundTrip: boolean;
}
interface BearerVector {
  kind: "bearer";
  description: string;
  subprotocol: string;
  token?: string;
  invalid?: boolean;
}
interface RefusalCloseVector {
  kind: "refusal-close";
  description: string;
  closeCode: number;
  status?: keyof typeof Status;
}
type Vector = FrameVector | MessageVector | TimeoutVector | StatusMessageVector | BearerVector | RefusalCloseVector;

const vectors = JSON.parse(readFileSync(VECTORS_URL, "utf8")) as Vector[];

function fromHex(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, "");
  if (!/^([0-9a-f]{2})*$/i.test(clean)) throw new Error(`bad hex in vector: ${hex}`);
  return new Uint8Array(clean.match(/../g)?.map((h) => parseInt(h, 16)) ?? []);
}

const toHex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

function metadataJson(metadata: Metadata): Array<[string, string | { hex: string }]> {
  return metadata.map(([name, value]) => [name, typeof value === "string" ? value : { hex: toHex(value) }]);
}

// Decodes every frame of one message the way a receiver does, payload fields included.
function decodeFrames(bytes: Uint8Array, maxFrameSize: number): Array<Record<string, unknown>> {
  const r = new FrameReader(maxFrameSize).reset(bytes);
  const out: Array<Record<string, unknown>> = [];
  while (r.next()) {
    const frame: Record<string, unknown> = { type: FrameTypeName[r.type], flags: r.flags, streamId: r.streamId };
    switch (r.type) {
      case FrameType.SETTINGS:
        frame.settings = readSettings(r.bytes, r.offset, r.length);
        break;
      case FrameType.HEADERS:
      case FrameType.TRAILERS:
        frame.metadata = metadataJson(readMetadata(r.bytes, r.offset, r.length, Infinity, r.streamId));
        break;
      case FrameType.DATA:
      case FrameType.PING:
        frame.payloadHex = toHex(r.payload);
        break;
      case FrameType.RST_STREAM:
        frame.code = r.u32(0);
        break;
      case FrameType.WINDOW_UPDATE:
        frame.increment = r.u32(0);
        break;
      case FrameType.GOAWAY:
        frame.lastStreamId = r.u32(0) & MAX_STREAM_ID;
        frame.code = r.u32(4);
        frame.debug = new TextDecoder().decode(r.payload.subarray(8));
        break;
    }
    out.push(frame);
  }
  return out;
}

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

test("the vector file covers every frame type, valid and malformed", () => {
  const frameVectors = vectors.filter((v): v is FrameVector => v.kind === "frames");
  const types = new Set(frameVectors.flatMap((v) => (v.frames ?? []).map((f) => f.type)));
  expect([...types].sort()).toEqual(Object.values(FrameTypeName).sort());
  expect(frameVectors.filter((v) => v.error).length).toBeGreaterThan(40);
  for (const kind of ["message", "timeout", "grpc-message", "bearer", "refusal-close"])
    expect(vectors.some((v) => v.kind === kind)).toBe(true);
});

describe("frame vectors", () => {
  for (const v of vectors.filter((v): v is FrameVector => v.kind === "frames")) {
    test(v.description, () => {
      const bytes = fromHex(v.hex);
      const maxFrameSize = v.maxFrameSize ?? DEFAULT_SETTINGS.maxFrameSize;
      if (v.error) {
        const error = caught(() => decodeFrames(bytes, maxFrameSize));
        expect(error).toBeInstanceOf(ProtocolError);
        expect((error as ProtocolError).code).toBe(ErrorCode[v.error.code]);
        expect((error as ProtocolError).message).toContain(v.error.match);
      } else {
        expect(decodeFrames(bytes, maxFrameSize)).toEqual(v.frames);
      }
    });
  }
});

describe("gRPC message prefix vectors", () => {
  for (const v of vectors.filter((v): v is MessageVector => v.kind === "message")) {
    test(v.description, () => {
      const reader = new MessageReader(v.maxMessageSize);
      const got: string[] = [];
      const error = caught(() => {
        for (const chunk of v.chunks) reader.push(fromHex(chunk), (m) => got.push(toHex(m)));
      });
      if (v.error) {
        expect(error).toBeInstanceOf(MessageError);
        expect((error as MessageError).status).toBe(Status[v.error.status]);
        expect((error as MessageError).message).toContain(v.error.match);
      } else {
        expect(error).toBeUndefined();
        expect(got).toEqual(v.messages);
        expect(reader.partial).toBe(v.partial ?? 0);
      }
    });
  }
});

describe("grpc-timeout vectors", () => {
  for (const v of vectors.filter((v): v is TimeoutVector => v.kind === "timeout")) {
    test(v.description, () => {
      const ms = parseTimeout(v.value);
      if (v.invalid) {
        expect(ms).toBeUndefined();
      } else {
        expect(ms).toBeDefined();
        expect(Math.abs(ms! - v.ms!)).toBeLessThanOrEqual(Math.abs(v.ms!) * 1e-12);
      }
    });
  }
});

describe("grpc-message vectors", () => {
  for (const v of vectors.filter((v): v is StatusMessageVector => v.kind === "grpc-message")) {
    test(v.description, () => {
      expect(decodeStatusMessage(v.encoded)).toBe(v.decoded);
      if (v.roundTrip) expect(encodeStatusMessage(v.decoded)).toBe(v.encoded);
    });
  }
});

describe("bearer subprotocol vectors", () => {
  for (const v of vectors.filter((v): v is BearerVector => v.kind === "bearer")) {
    test(v.description, () => {
      if (v.invalid) {
        expect(tokenFromSubprotocol(v.subprotocol)).toBeUndefined();
      } else {
        expect(tokenFromSubprotocol(v.subprotocol)).toBe(v.token);
        expect(bearerSubprotocol(v.token!)).toBe(v.subprotocol);
      }
    });
  }
});

describe("refusal close code vectors", () => {
  for (const v of vectors.filter((v): v is RefusalCloseVector => v.kind === "refusal-close")) {
    test(v.description, () => {
      expect(statusFromRefusalClose(v.closeCode)).toBe(v.status === undefined ? undefined : Status[v.status]);
    });
  }
});

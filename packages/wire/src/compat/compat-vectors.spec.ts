import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { decompressMessage, gzip, negotiateCompression } from "../compression.js";
import { MessageError } from "../message.js";
import type { Metadata } from "../metadata.js";
import { Status } from "../status.js";
import { GrpcWebReader, type GrpcWebFrame } from "./grpc-web-reader.js";
import { GrpcWebSocketsError, decodeHeaderBlock, encodeMetadataFrame, readClientMessage } from "./grpc-websockets.js";

// Vectors of docs/PROTOCOL.md appendices A and B, written by docs/vectors/generate_compat.py.
const load = <T>(name: string): T[] =>
  JSON.parse(readFileSync(new URL(`../../../../docs/vectors/${name}`, import.meta.url), "utf8")) as T[];

type MetadataJson = Array<[string, string | { hex: string }]>;
interface ErrorJson {
  status: keyof typeof Status;
  match: string;
}
interface FrameJson {
  type: "metadata" | "message";
  metadata?: MetadataJson;
  compressed?: boolean;
  dataHex?: string;
}
type CompatVector =
  | { kind: "header-block"; description: string; hex: string; metadata?: MetadataJson; error?: ErrorJson }
  | {
      kind: "client-message";
      description: string;
      hex: string;
      message?: { type: string; dataHex?: string };
      error?: ErrorJson;
    }
  | { kind: "metadata-frame"; description: string; hex: string; metadata: MetadataJson }
  | {
      kind: "response";
      description: string;
      chunks: string[];
      maxMessageSize: number;
      frames?: FrameJson[];
      error?: ErrorJson;
    }
  | {
      kind: "exchange";
      description: string;
      path: string;
      client: string[];
      server: string[];
      requestMetadata: MetadataJson;
      requests: string[];
      frames: FrameJson[];
    };
type CompressionVector =
  | {
      kind: "compressed-message";
      description: string;
      encoding: string;
      hex: string;
      maxMessageSize: number;
      messages?: string[];
      error?: ErrorJson;
    }
  | {
      kind: "negotiation";
      description: string;
      grpcEncoding: string | null;
      grpcAcceptEncoding: string | null;
      accept: string[];
      send: string | null;
      request?: string;
      response?: string;
      error?: ErrorJson;
    };

const fromHex = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex.replace(/\s+/g, ""), "hex"));
const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString("hex");
const metadataJson = (m: Metadata): MetadataJson =>
  m.map(([n, v]) => [n, typeof v === "string" ? v : { hex: toHex(v) }]);
const frameJson = (f: GrpcWebFrame): FrameJson =>
  f.type === "metadata"
    ? { type: "metadata", metadata: metadataJson(f.metadata) }
    : { type: "message", compressed: f.compressed, dataHex: toHex(f.data) };
const metadataFromJson = (m: MetadataJson): Metadata =>
  m.map(([n, v]) => [n, typeof v === "string" ? v : fromHex(v.hex)]);

function readResponse(chunks: string[], maxMessageSize: number): FrameJson[] {
  const reader = new GrpcWebReader(maxMessageSize, 16384);
  const frames: FrameJson[] = [];
  for (const c of chunks) reader.push(fromHex(c), (f) => frames.push(frameJson(f)));
  expect(reader.partial).toBe(0);
  return frames;
}

function expectError(fn: () => unknown, error: ErrorJson): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, "expected an error").toBeInstanceOf(Error);
  // Subprotocol violations end the call with INTERNAL.
  const status =
    thrown instanceof MessageError ? thrown.status : thrown instanceof GrpcWebSocketsError ? Status.INTERNAL : -1;
  expect(status).toBe(Status[error.status]);
  expect((thrown as Error).message).toContain(error.match);
}

describe("grpc-websockets vectors (docs/vectors/grpc-websockets.json)", () => {
  const vectors = load<CompatVector>("grpc-websockets.json");
  test("the file covers every kind", () => {
    expect(new Set(vectors.map((v) => v.kind))).toEqual(
      new Set(["header-block", "client-message", "metadata-frame", "response", "exchange"]),
    );
  });
  for (const v of vectors) {
    test(`${v.kind}: ${v.description}`, () => {
      switch (v.kind) {
        case "header-block":
          if (v.error) return expectError(() => decodeHeaderBlock(fromHex(v.hex)), v.error);
          return expect(metadataJson(decodeHeaderBlock(fromHex(v.hex)))).toEqual(v.metadata);
        case "client-message": {
          if (v.error) return expectError(() => readClientMessage(fromHex(v.hex)), v.error);
          const m = readClientMessage(fromHex(v.hex));
          return expect(m.type === "data" ? { type: "data", dataHex: toHex(m.data) } : { type: m.type }).toEqual(
            v.message,
          );
        }
        case "metadata-frame":
          expect(toHex(encodeMetadataFrame(metadataFromJson(v.metadata)))).toBe(v.hex);
          return expect(readResponse([v.hex], 0)).toEqual([{ type: "metadata", metadata: v.metadata }]);
        case "response":
          if (v.error) return expectError(() => readResponse(v.chunks, v.maxMessageSize), v.error);
          return expect(readResponse(v.chunks, v.maxMessageSize)).toEqual(v.frames);
        case "exchange": {
          const [first, ...rest] = v.client.map(fromHex);
          expect(metadataJson(decodeHeaderBlock(first!))).toEqual(v.requestMetadata);
          const body = new GrpcWebReader(4194304, 16384);
          const requests: string[] = [];
          let ended = false;
          for (const message of rest) {
            const m = readClientMessage(message);
            if (m.type === "end") ended = true;
            else if (m.type === "data")
              body.push(m.data, (f) => requests.push(toHex((f as { data: Uint8Array }).data)));
          }
          expect(ended).toBe(true);
          expect(requests).toEqual(v.requests);
          return expect(readResponse(v.server, 4194304)).toEqual(v.frames);
        }
      }
    });
  }
});

describe("compression vectors (docs/vectors/compression.json)", () => {
  const vectors = load<CompressionVector>("compression.json");
  for (const v of vectors) {
    test(`${v.kind}: ${v.description}`, async () => {
      if (v.kind === "negotiation") {
        const n = negotiateCompression(
          v.accept.includes("gzip") ? [gzip] : [],
          v.send === "gzip" ? gzip : undefined,
          v.grpcEncoding ?? undefined,
          v.grpcAcceptEncoding ?? undefined,
        );
        if (v.error) {
          expect(n.error?.code).toBe(Status[v.error.status]);
          return expect(n.error?.message).toContain(v.error.match);
        }
        expect(n.error).toBeUndefined();
        expect(n.request?.name ?? "identity").toBe(v.request);
        return expect(n.response?.name ?? "identity").toBe(v.response);
      }
      const frames: GrpcWebFrame[] = [];
      new GrpcWebReader(Number.MAX_SAFE_INTEGER, 0).push(fromHex(v.hex), (f) => frames.push(f));
      const compression = v.encoding === "gzip" ? gzip : undefined;
      const out: string[] = [];
      try {
        for (const f of frames) {
          if (f.type !== "message") throw new Error("unexpected metadata frame");
          out.push(toHex(f.compressed ? await decompressMessage(compression, f.data, v.maxMessageSize) : f.data));
        }
      } catch (e) {
        expect(v.error, `unexpected ${String(e)}`).toBeDefined();
        expect(e).toBeInstanceOf(MessageError);
        expect((e as MessageError).status).toBe(Status[v.error!.status]);
        return expect((e as MessageError).message).toContain(v.error!.match);
      }
      expect(v.error).toBeUndefined();
      expect(out).toEqual(v.messages);
    });
  }
});

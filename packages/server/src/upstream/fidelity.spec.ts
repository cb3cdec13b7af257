// Status, metadata and error mapping against a hand-written HTTP/2 gRPC server, which can answer
// in ways grpc-js never does: status details, raw percent-encoded messages, trailers-only, non-200
// HTTP statuses, RST_STREAM codes, GOAWAY, oversize messages.
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createWebSocketTransport, type WebSocketTransport } from "@grpc-ws/client";
import { afterAll, beforeAll, expect, it } from "vitest";
import { BenchService, PayloadSchema } from "../../../../gen/bench/v1/bench_pb.js";
import { createWebSocketBridge, type WebSocketBridge } from "../index.js";

const { NGHTTP2_REFUSED_STREAM, NGHTTP2_CANCEL, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_INTERNAL_ERROR } = http2.constants;

// A google.rpc.Status { code: 3, message: "bad", details: [Any { type_url, value: 00 ff }] }, encoded by hand.
const DETAILS = new Uint8Array([
  0x08,
  0x03,
  0x12,
  0x03,
  0x62,
  0x61,
  0x64,
  0x1a,
  0x1c,
  0x0a,
  0x16,
  ...Buffer.from("type.googleapis.com/x.Y"),
  0x12,
  0x02,
  0x00,
  0xff,
]);
DETAILS[10] = "type.googleapis.com/x.Y".length;
DETAILS[8] = DETAILS.length - 9;
const HEADER_BYTES = new Uint8Array([0xff, 0x00, 0x10]);

type Mode =
  | "details"
  | "message-only"
  | "trailers-only"
  | "http-503"
  | "http-404"
  | "refused"
  | "cancel"
  | "calm"
  | "internal"
  | "goaway"
  | "oversize"
  | "no-trailers";

let server: http2.Http2Server;
let target: string;
let bridge: WebSocketBridge;
let transport: WebSocketTransport;
let lastRequest: http2.IncomingHttpHeaders | undefined;

function message(body: Uint8Array): Buffer {
  const bytes = toBinary(PayloadSchema, create(PayloadSchema, { body }));
  const out = Buffer.alloc(5 + bytes.length);
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, 5);
  return out;
}

beforeAll(async () => {
  server = http2.createServer();
  server.on("stream", (stream, headers) => {
    stream.on("error", () => undefined);
    lastRequest = headers;
    const mode = headers["x-mode"] as Mode;
    const ok = { ":status": 200, "content-type": "application/grpc" };
    switch (mode) {
      case "details":
        stream.respond({ ...ok, "x-h-bin": Buffer.from(HEADER_BYTES).toString("base64") }, { waitForTrailers: true });
        stream.on("wantTrailers", () =>
          stream.sendTrailers({
            "grpc-status": "3",
            "grpc-message": "caf%C3%A9 100%25 %E2%9C%93",
            "grpc-status-details-bin": Buffer.from(DETAILS).toString("base64").replace(/=+$/, ""),
            "x-t": "trailer",
          }),
        );
        stream.end(message(new Uint8Array([1, 2, 3])));
        return;
      case "message-only":
        stream.respond(
          { ...ok, "grpc-status": "3", "grpc-message": "caf%C3%A9 100%25 %E2%9C%93" },
          { endStream: true },
        );
        return;
      case "trailers-only":
        stream.respond({ ...ok, "grpc-status": "7", "grpc-message": "not you" }, { endStream: true });
        return;
      case "http-503":
        stream.respond({ ":status": 503 }, { endStream: true });
        return;
      case "http-404":
        stream.respond({ ":status": 404, "content-type": "text/plain" });
        stream.end("no such page");
        return;
      case "refused":
        return stream.close(NGHTTP2_REFUSED_STREAM);
      case "cancel":
        return stream.close(NGHTTP2_CANCEL);
      case "calm":
        return stream.close(NGHTTP2_ENHANCE_YOUR_CALM);
      case "internal":
        return stream.close(NGHTTP2_INTERNAL_ERROR);
      case "goaway":
        stream.session?.goaway(NGHTTP2_INTERNAL_ERROR);
        stream.session?.destroy();
        return;
      case "oversize":
        stream.respond(ok, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
        stream.end(message(new Uint8Array(2048)));
        return;
      case "no-trailers":
        stream.respond(ok);
        stream.end(message(new Uint8Array(1)));
        return;
      default:
        stream.respond({ ...ok, "grpc-status": "0" }, { endStream: true });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  target = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  bridge = createWebSocketBridge({ upstream: { target, maxMessageSize: 1024 } });
  const { url } = await bridge.listen();
  transport = createWebSocketTransport({ url });
});

afterAll(async () => {
  await transport?.close();
  await bridge?.close({ drainTimeoutMs: 100 });
  await new Promise<void>((resolve) => server?.close(() => resolve()));
});

async function callWith(mode: Mode, init?: { headers?: Headers; timeoutMs?: number }) {
  const client = createClient(BenchService, transport);
  const headers = new Headers(init?.headers);
  headers.set("x-mode", mode);
  let header: Headers | undefined;
  let trailer: Headers | undefined;
  const error = await client
    .unary(
      { body: new Uint8Array([9]) },
      { headers, timeoutMs: init?.timeoutMs, onHeader: (h) => (header = h), onTrailer: (t) => (trailer = t) },
    )
    .then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
  return { error, header, trailer };
}

it("passes status, percent-encoded message, details and -bin headers through unchanged", async () => {
  const requestBin = new Uint8Array([0, 0xfe, 0xff, 0x41]);
  const headers = new Headers({
    "x-req-bin": Buffer.from(requestBin).toString("base64"),
    connection: "x",
    "proxy-authorization": "p",
  });
  const { error } = await callWith("details", { headers, timeoutMs: 3000 });
  expect(error?.code).toBe(Code.InvalidArgument);
  // Connect takes the message from the details when there are any; grpc-message arrives as sent.
  expect(error?.rawMessage).toBe("bad");
  expect(error?.metadata.get("grpc-message")).toBe("caf%C3%A9 100%25 %E2%9C%93");
  expect(new Uint8Array(Buffer.from(error?.metadata.get("grpc-status-details-bin") ?? "", "base64"))).toEqual(DETAILS);
  expect(error?.details).toEqual([expect.objectContaining({ type: "x.Y", value: new Uint8Array([0x00, 0xff]) })]);
  expect(error?.metadata.get("x-t")).toBe("trailer");
  // A failed unary call carries the response headers in the error's metadata.
  expect(new Uint8Array(Buffer.from(error?.metadata.get("x-h-bin") ?? "", "base64"))).toEqual(HEADER_BYTES);
  expect(error?.metadata.has("content-type")).toBe(false);

  // What the upstream received.
  const req = lastRequest!;
  expect(req[":method"]).toBe("POST");
  expect(req[":scheme"]).toBe("http");
  expect(req[":path"]).toBe("/bench.v1.BenchService/Unary");
  expect(req[":authority"]).toBe(new URL(target).host);
  expect(req["content-type"]).toBe("application/grpc");
  expect(req.te).toBe("trailers");
  expect(req["proxy-authorization"]).toBeUndefined();
  expect(new Uint8Array(Buffer.from(req["x-req-bin"] as string, "base64"))).toEqual(requestBin);
  const timeout = /^(\d+)([mu])$/.exec(req["grpc-timeout"] as string);
  expect(timeout).not.toBeNull();
  const ms = Number(timeout![1]) / (timeout![2] === "u" ? 1000 : 1);
  expect(ms).toBeLessThanOrEqual(3000);
  expect(ms).toBeGreaterThan(1000);
});

it("maps a trailers-only response", async () => {
  const { error } = await callWith("trailers-only");
  expect(error).toMatchObject({ code: Code.PermissionDenied, rawMessage: "not you" });
});

it("decodes a percent-encoded grpc-message without details to the same text", async () => {
  const { error } = await callWith("message-only");
  expect(error).toMatchObject({ code: Code.InvalidArgument, rawMessage: "café 100% ✓" });
});

it.each([
  ["http-503", Code.Unavailable, "HTTP 503"],
  ["http-404", Code.Unimplemented, "HTTP 404"],
  ["refused", Code.Unavailable, "REFUSED_STREAM"],
  ["cancel", Code.Canceled, "CANCEL"],
  ["calm", Code.ResourceExhausted, "ENHANCE_YOUR_CALM"],
  ["internal", Code.Internal, "INTERNAL_ERROR"],
  ["oversize", Code.ResourceExhausted, "exceeds the limit of 1024 bytes"],
  ["no-trailers", Code.Internal, "without trailers"],
] as const)("maps %s to %s", async (mode, code, text) => {
  const { error } = await callWith(mode);
  expect(error?.code).toBe(code);
  expect(error?.rawMessage).toContain(`upstream ${target}/`);
  expect(error?.rawMessage).toContain(text);
});

it("a GOAWAY with an error ends the call UNAVAILABLE, and the next call reconnects", async () => {
  const { error } = await callWith("goaway");
  expect(error?.code).toBe(Code.Unavailable);
  expect(error?.rawMessage).toContain(`upstream ${target}/`);
  const next = await callWith("trailers-only");
  expect(next.error?.code).toBe(Code.PermissionDenied);
});

import { create, type DescMessage } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { anyPack } from "@bufbuild/protobuf/wkt";
import type { ConnectError } from "@connectrpc/connect";

// Our edge toward Connect's error model, on its public API only (its own helpers for this are
// marked internal and not semver-stable).

// Connect's protocol headers (connect-go's protocolHeaders): never copied from an error's metadata.
const PROTOCOL_HEADERS = new Set([
  "content-type",
  "content-length",
  "content-encoding",
  "host",
  "user-agent",
  "trailer",
  "date",
  "accept-encoding",
  "connect-content-encoding",
  "connect-accept-encoding",
  "connect-timeout-ms",
  "connect-protocol-version",
  "grpc-encoding",
  "grpc-accept-encoding",
  "grpc-timeout",
  "grpc-status",
  "grpc-message",
  "grpc-status-details-bin",
]);

/** Appends the error's own metadata (not for errors relayed from the wire) to `target`, as Connect's gRPC handlers do. */
export function appendErrorMetadata(target: Headers, error: ConnectError): void {
  if (error.isWireError) return;
  error.metadata.forEach((value, key) => {
    if (!PROTOCOL_HEADERS.has(key.toLowerCase())) target.append(key, value);
  });
}

/** `grpc-status-details-bin` for an error with details: a google.rpc.Status (code 1, message 2, details 3 as Any). */
export function encodeStatusDetails(error: ConnectError): Uint8Array | undefined {
  if (error.details.length === 0) return undefined;
  const w = new BinaryWriter();
  w.tag(1, WireType.Varint).int32(error.code); // never 0: an error
  if (error.rawMessage !== "") w.tag(2, WireType.LengthDelimited).string(error.rawMessage);
  for (const detail of error.details) {
    const any =
      "desc" in detail
        ? anyPack(detail.desc as DescMessage, create(detail.desc as DescMessage, detail.value as never))
        : { typeUrl: `type.googleapis.com/${detail.type}`, value: detail.value };
    w.tag(3, WireType.LengthDelimited).fork();
    if (any.typeUrl !== "") w.tag(1, WireType.LengthDelimited).string(any.typeUrl);
    if (any.value.length > 0) w.tag(2, WireType.LengthDelimited).bytes(any.value);
    w.join();
  }
  return w.finish();
}

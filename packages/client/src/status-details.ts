import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";

// Our edge toward Connect's error model, on public APIs only (Connect's own helper for this is
// marked internal and not semver-stable).

/** A google.rpc.Status as `grpc-status-details-bin` carries it; details stay packed (type name and bytes). */
export interface RpcStatus {
  code: number;
  message: string;
  details: Array<{ type: string; value: Uint8Array }>;
}

/** Decodes `grpc-status-details-bin`. Throws for bytes that are not a google.rpc.Status. */
export function decodeStatusDetails(bytes: Uint8Array): RpcStatus {
  const status: RpcStatus = { code: 0, message: "", details: [] };
  const r = new BinaryReader(bytes);
  while (r.pos < r.len) {
    const [field, wireType] = r.tag();
    if (field === 1 && wireType === WireType.Varint) status.code = r.int32();
    else if (field === 2 && wireType === WireType.LengthDelimited) status.message = r.string();
    else if (field === 3 && wireType === WireType.LengthDelimited) status.details.push(decodeAny(r.bytes()));
    else r.skip(wireType, field);
  }
  return status;
}

// google.protobuf.Any: type_url 1, value 2. The type name is what follows the URL's last "/".
function decodeAny(bytes: Uint8Array): { type: string; value: Uint8Array } {
  let typeUrl = "";
  let value: Uint8Array = new Uint8Array(0);
  const r = new BinaryReader(bytes);
  while (r.pos < r.len) {
    const [field, wireType] = r.tag();
    if (field === 1 && wireType === WireType.LengthDelimited) typeUrl = r.string();
    else if (field === 2 && wireType === WireType.LengthDelimited) value = r.bytes();
    else r.skip(wireType, field);
  }
  return { type: typeUrl.substring(typeUrl.lastIndexOf("/") + 1), value };
}

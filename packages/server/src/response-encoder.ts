import {
  ScalarType,
  toBinary,
  type BinaryWriteOptions,
  type DescField,
  type DescMessage,
  type Message,
} from "@bufbuild/protobuf";

/**
 * Encodes a response message to the bytes `toBinary` gives, in two passes: the exact size first,
 * then every byte written once into one buffer from Node's pool. `toBinary` grows a buffer from
 * 128 bytes by doubling (a fresh ArrayBuffer and a copy each time), then copies the result out
 * again: for a 64 KiB message ~190 KiB copied and ~256 KiB allocated, for a 100-byte one two
 * ArrayBuffers. That was 37-48% of the bridge's time streaming.
 *
 * Only the common shapes take this path: scalars, enums, strings, bytes, nested messages,
 * repeated fields (packed or not), oneofs and unknown fields. Anything else (maps, groups,
 * wrapper and Struct fields, which protobuf-es represents differently) and any value toBinary
 * would convert or reject (a numeric string, an out-of-range number, a foreign message) goes to
 * `toBinary` itself, so errors and edge cases are exactly protobuf-es's.
 */
export function encodeMessage(
  schema: DescMessage,
  message: Message,
  options: Partial<BinaryWriteOptions> | undefined,
): Uint8Array {
  const plan = planOf(schema);
  if (plan === undefined) return toBinary(schema, message, options);
  const unknown = options?.writeUnknownFields ?? true;
  const sizes: number[] = [];
  let size: number;
  try {
    size = sizeOf(plan, message, unknown, sizes);
  } catch (e) {
    if (e === UNSUPPORTED) return toBinary(schema, message, options);
    throw e;
  }
  const out = Buffer.allocUnsafe(size);
  const w: Writer = { buf: out, view: undefined, pos: 0, sizes, next: 0 };
  writeMessage(plan, message, unknown, w);
  if (w.pos !== size) throw new Error(`response encoder wrote ${w.pos} of ${size} bytes`);
  return out;
}

/** @internal Whether messages of `schema` take the two-pass path (else toBinary's). */
export function encodesDirectly(schema: DescMessage): boolean {
  return planOf(schema) !== undefined;
}

// --- plans: per message type, the fields in number order and how each is written ----------------

const IMPLICIT = 2;
const LEGACY_REQUIRED = 3;

/** What a field is, for the two passes. */
const Kind = { Scalar: 0, Message: 1, List: 2 } as const;
type Kind = (typeof Kind)[keyof typeof Kind];

interface FieldPlan {
  readonly kind: Kind;
  readonly no: number;
  readonly localName: string;
  /** The oneof's local name, for a member of one. */
  readonly oneof: string | undefined;
  /** Written only when set (explicit presence); `required`: throws through toBinary when not. */
  readonly explicit: boolean;
  readonly required: boolean;
  /** Scalar type of the value (enums: INT32); of the items for lists. */
  readonly scalar: ScalarType;
  /** Zero of an enum with implicit presence. */
  readonly enumZero: number | undefined;
  readonly packed: boolean;
  /** Message fields and message lists: the child's plan (set after planning, cycles allowed). */
  child: MessagePlan | undefined;
  readonly childTypeName: string | undefined;
}

interface MessagePlan {
  readonly typeName: string;
  readonly fields: FieldPlan[];
}

const plans = new WeakMap<DescMessage, MessagePlan | null>();

function planOf(desc: DescMessage): MessagePlan | undefined {
  const known = plans.get(desc);
  if (known !== undefined) return known ?? undefined;
  const plan: MessagePlan = { typeName: desc.typeName, fields: [] };
  // Registered before the fields: a recursive type finds itself.
  plans.set(desc, plan);
  for (const field of [...desc.fields].sort((a, b) => a.number - b.number)) {
    const f = planField(field);
    if (f === undefined) {
      plans.set(desc, null);
      return undefined;
    }
    plan.fields.push(f);
  }
  for (const f of plan.fields) {
    if (f.childTypeName === undefined) continue;
    const field = desc.fields.find((d) => d.number === f.no)!;
    const child = planOf(field.message!);
    if (child === undefined) {
      plans.set(desc, null);
      return undefined;
    }
    f.child = child;
  }
  return plan;
}

function planField(field: DescField): FieldPlan | undefined {
  const base = {
    no: field.number,
    localName: field.localName,
    oneof: field.oneof?.localName,
    explicit: field.oneof === undefined && field.presence !== IMPLICIT,
    required: field.presence === LEGACY_REQUIRED,
    enumZero: undefined as number | undefined,
    packed: false,
    child: undefined,
    childTypeName: undefined as string | undefined,
  };
  switch (field.fieldKind) {
    case "scalar":
      return { ...base, kind: Kind.Scalar, scalar: field.scalar };
    case "enum":
      return { ...base, kind: Kind.Scalar, scalar: ScalarType.INT32, enumZero: field.enum.values[0]?.number ?? 0 };
    case "message":
      // Wrapper and Struct fields have a local representation of their own; groups a wire form of their own.
      if (field.delimitedEncoding || isSpecialMessage(field.message)) return undefined;
      return { ...base, kind: Kind.Message, scalar: ScalarType.INT32, childTypeName: field.message.typeName };
    case "list":
      if (field.listKind === "message") {
        if (field.delimitedEncoding || isSpecialMessage(field.message)) return undefined;
        return {
          ...base,
          kind: Kind.List,
          scalar: ScalarType.INT32,
          explicit: false,
          childTypeName: field.message.typeName,
        };
      }
      return {
        ...base,
        kind: Kind.List,
        explicit: false,
        scalar: field.listKind === "enum" ? ScalarType.INT32 : field.scalar,
        packed: field.packed,
      };
    case "map":
      return undefined;
  }
}

function isSpecialMessage(desc: DescMessage): boolean {
  return desc.typeName.startsWith("google.protobuf.");
}

// --- size pass: validates every value; UNSUPPORTED hands the message to toBinary -----------------

const UNSUPPORTED = Symbol("unsupported");

function sizeOf(plan: MessagePlan, message: Message, unknown: boolean, sizes: number[]): number {
  if (message.$typeName !== plan.typeName) throw UNSUPPORTED;
  const m = message as unknown as Record<string, unknown>;
  let size = 0;
  for (const f of plan.fields) {
    const value = fieldValue(f, m);
    if (value === ABSENT) continue;
    switch (f.kind) {
      case Kind.Scalar:
        size += tagSize(f.no) + scalarSize(f.scalar, value);
        break;
      case Kind.Message:
        size += tagSize(f.no) + childSize(f.child!, value, unknown, sizes);
        break;
      case Kind.List: {
        if (!Array.isArray(value)) throw UNSUPPORTED;
        if (f.child !== undefined) {
          for (const item of value) size += tagSize(f.no) + childSize(f.child, item, unknown, sizes);
        } else if (f.packed) {
          if (value.length === 0) break;
          let body = 0;
          for (const item of value) body += scalarSize(f.scalar, item);
          sizes.push(body);
          size += tagSize(f.no) + varint32Size(body) + body;
        } else {
          for (const item of value) size += tagSize(f.no) + scalarSize(f.scalar, item);
        }
        break;
      }
    }
  }
  const extra = message.$unknown;
  if (extra !== undefined && unknown) {
    for (const { no, wireType, data } of extra) {
      if (!(data instanceof Uint8Array)) throw UNSUPPORTED;
      size += varint32Size(((no << 3) | wireType) >>> 0) + data.length;
    }
  }
  return size;
}

// Length-prefixed child: its size is kept (in pre-order) for the write pass.
function childSize(plan: MessagePlan, value: unknown, unknown: boolean, sizes: number[]): number {
  if (typeof value !== "object" || value === null) throw UNSUPPORTED;
  const at = sizes.length;
  sizes.push(0);
  const body = sizeOf(plan, value as Message, unknown, sizes);
  sizes[at] = body;
  return varint32Size(body) + body;
}

const ABSENT = Symbol("absent");

// The presence rules of toBinary, in its words: a oneof member when it is the case; explicit
// presence when an own property is defined; implicit presence when not the zero value.
function fieldValue(f: FieldPlan, m: Record<string, unknown>): unknown {
  if (f.oneof !== undefined) {
    const oneof = m[f.oneof] as { case: unknown; value: unknown } | undefined;
    if (oneof === undefined || oneof === null) throw UNSUPPORTED;
    return oneof.case === f.localName ? oneof.value : ABSENT;
  }
  const value = m[f.localName];
  if (f.kind === Kind.List) return value;
  if (f.explicit) {
    if (value !== undefined && Object.hasOwn(m, f.localName)) return value;
    if (f.required) throw UNSUPPORTED; // toBinary throws its own error
    return ABSENT;
  }
  if (f.kind === Kind.Message) return value === undefined ? ABSENT : value;
  if (f.enumZero !== undefined) return value !== f.enumZero ? value : ABSENT;
  switch (f.scalar) {
    case ScalarType.BOOL:
      return value !== false ? value : ABSENT;
    case ScalarType.STRING:
      return value !== "" ? value : ABSENT;
    case ScalarType.BYTES:
      return !(value instanceof Uint8Array) || value.byteLength > 0 ? value : ABSENT;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return !Object.is(value, 0) ? value : ABSENT;
    default:
      // biome-ignore lint/suspicious/noDoubleEquals: toBinary's own test: matches 0n, 0 and "0".
      return value != 0 ? value : ABSENT;
  }
}

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;
const UINT32_MAX = 0xffffffff;
const FLOAT32_MAX = 3.4028234663852886e38;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const UINT64_MAX = (1n << 64n) - 1n;

function scalarSize(type: ScalarType, value: unknown): number {
  switch (type) {
    case ScalarType.STRING:
      if (typeof value !== "string") throw UNSUPPORTED;
      return lengthPrefixed(Buffer.byteLength(value, "utf8"));
    case ScalarType.BYTES:
      if (!(value instanceof Uint8Array)) throw UNSUPPORTED;
      return lengthPrefixed(value.length);
    case ScalarType.BOOL:
      if (typeof value !== "boolean") throw UNSUPPORTED;
      return 1;
    case ScalarType.DOUBLE:
      if (typeof value !== "number") throw UNSUPPORTED;
      return 8;
    case ScalarType.FLOAT:
      if (typeof value !== "number" || (Number.isFinite(value) && Math.abs(value) > FLOAT32_MAX)) throw UNSUPPORTED;
      return 4;
    case ScalarType.INT32:
      int32(value);
      return (value as number) < 0 ? 10 : varint32Size(value as number);
    case ScalarType.SINT32:
      return varint32Size(zigzag32(int32(value)));
    case ScalarType.SFIXED32:
      int32(value);
      return 4;
    case ScalarType.UINT32:
      return varint32Size(uint32(value));
    case ScalarType.FIXED32:
      uint32(value);
      return 4;
    case ScalarType.INT64:
      return varint64Size(BigInt.asUintN(64, int64(value)));
    case ScalarType.SINT64:
      return varint64Size(zigzag64(int64(value)));
    case ScalarType.UINT64:
      return varint64Size(uint64(value));
    case ScalarType.FIXED64:
      uint64(value);
      return 8;
    case ScalarType.SFIXED64:
      int64(value);
      return 8;
  }
}

function int32(value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < INT32_MIN || value > INT32_MAX)
    throw UNSUPPORTED;
  return value;
}

function uint32(value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > UINT32_MAX) throw UNSUPPORTED;
  return value;
}

// 64-bit values as protobuf-es holds them by default: bigint. Strings and numbers go to toBinary.
function int64(value: unknown): bigint {
  if (typeof value !== "bigint" || value < INT64_MIN || value > INT64_MAX) throw UNSUPPORTED;
  return value;
}

function uint64(value: unknown): bigint {
  if (typeof value !== "bigint" || value < 0n || value > UINT64_MAX) throw UNSUPPORTED;
  return value;
}

function zigzag32(v: number): number {
  return ((v << 1) ^ (v >> 31)) >>> 0;
}

function zigzag64(v: bigint): bigint {
  return BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
}

function lengthPrefixed(n: number): number {
  return varint32Size(n) + n;
}

function tagSize(no: number): number {
  return varint32Size((no << 3) >>> 0);
}

function varint32Size(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

function varint64Size(v: bigint): number {
  let n = 1;
  while (v > 0x7fn) {
    v >>= 7n;
    n++;
  }
  return n;
}

// --- write pass: values were validated by the size pass -----------------------------------------

interface Writer {
  readonly buf: Buffer;
  view: DataView | undefined;
  pos: number;
  /** Lengths of length-prefixed children and packed lists, in the order the size pass met them. */
  readonly sizes: number[];
  next: number;
}

const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

function writeMessage(plan: MessagePlan, message: Message, unknown: boolean, w: Writer): void {
  const m = message as unknown as Record<string, unknown>;
  for (const f of plan.fields) {
    const value = fieldValue(f, m);
    if (value === ABSENT) continue;
    switch (f.kind) {
      case Kind.Scalar:
        writeTag(w, f.no, wireTypeOf(f.scalar));
        writeScalar(w, f.scalar, value);
        break;
      case Kind.Message:
        writeTag(w, f.no, LENGTH_DELIMITED);
        writeChild(w, f.child!, value as Message, unknown);
        break;
      case Kind.List: {
        const items = value as unknown[];
        if (f.child !== undefined) {
          for (const item of items) {
            writeTag(w, f.no, LENGTH_DELIMITED);
            writeChild(w, f.child, item as Message, unknown);
          }
        } else if (f.packed) {
          if (items.length === 0) break;
          writeTag(w, f.no, LENGTH_DELIMITED);
          writeVarint32(w, w.sizes[w.next++]!);
          for (const item of items) writeScalar(w, f.scalar, item);
        } else {
          const wireType = wireTypeOf(f.scalar);
          for (const item of items) {
            writeTag(w, f.no, wireType);
            writeScalar(w, f.scalar, item);
          }
        }
        break;
      }
    }
  }
  const extra = message.$unknown;
  if (extra !== undefined && unknown) {
    for (const { no, wireType, data } of extra) {
      writeTag(w, no, wireType);
      w.buf.set(data, w.pos);
      w.pos += data.length;
    }
  }
}

function writeChild(w: Writer, plan: MessagePlan, child: Message, unknown: boolean): void {
  writeVarint32(w, w.sizes[w.next++]!);
  writeMessage(plan, child, unknown, w);
}

function wireTypeOf(type: ScalarType): number {
  switch (type) {
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return LENGTH_DELIMITED;
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return FIXED64;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return FIXED32;
    default:
      return VARINT;
  }
}

function view(w: Writer): DataView {
  return (w.view ??= new DataView(w.buf.buffer, w.buf.byteOffset, w.buf.byteLength));
}

function writeScalar(w: Writer, type: ScalarType, value: unknown): void {
  switch (type) {
    case ScalarType.STRING: {
      const s = value as string;
      const n = Buffer.byteLength(s, "utf8");
      writeVarint32(w, n);
      w.pos += w.buf.write(s, w.pos, n, "utf8");
      return;
    }
    case ScalarType.BYTES: {
      const b = value as Uint8Array;
      writeVarint32(w, b.length);
      w.buf.set(b, w.pos);
      w.pos += b.length;
      return;
    }
    case ScalarType.BOOL:
      w.buf[w.pos++] = value ? 1 : 0;
      return;
    case ScalarType.DOUBLE:
      view(w).setFloat64(w.pos, value as number, true);
      w.pos += 8;
      return;
    case ScalarType.FLOAT:
      view(w).setFloat32(w.pos, value as number, true);
      w.pos += 4;
      return;
    case ScalarType.INT32: {
      const v = value as number;
      if (v >= 0) writeVarint32(w, v);
      else writeVarint64(w, BigInt.asUintN(64, BigInt(v)));
      return;
    }
    case ScalarType.SINT32:
      writeVarint32(w, zigzag32(value as number));
      return;
    case ScalarType.SFIXED32:
      view(w).setInt32(w.pos, value as number, true);
      w.pos += 4;
      return;
    case ScalarType.UINT32:
      writeVarint32(w, value as number);
      return;
    case ScalarType.FIXED32:
      view(w).setUint32(w.pos, value as number, true);
      w.pos += 4;
      return;
    case ScalarType.INT64:
      writeVarint64(w, BigInt.asUintN(64, value as bigint));
      return;
    case ScalarType.SINT64:
      writeVarint64(w, zigzag64(value as bigint));
      return;
    case ScalarType.UINT64:
      writeVarint64(w, value as bigint);
      return;
    case ScalarType.FIXED64:
      view(w).setBigUint64(w.pos, value as bigint, true);
      w.pos += 8;
      return;
    case ScalarType.SFIXED64:
      view(w).setBigInt64(w.pos, value as bigint, true);
      w.pos += 8;
      return;
  }
}

function writeTag(w: Writer, no: number, wireType: number): void {
  writeVarint32(w, ((no << 3) | wireType) >>> 0);
}

function writeVarint32(w: Writer, v: number): void {
  const buf = w.buf;
  while (v > 0x7f) {
    buf[w.pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[w.pos++] = v;
}

function writeVarint64(w: Writer, v: bigint): void {
  const buf = w.buf;
  while (v > 0x7fn) {
    buf[w.pos++] = Number(v & 0x7fn) | 0x80;
    v >>= 7n;
  }
  buf[w.pos++] = Number(v);
}

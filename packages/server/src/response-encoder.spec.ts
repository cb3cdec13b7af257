import {
  create,
  createFileRegistry,
  toBinary,
  type DescMessage,
  type Message,
  type MessageInitShape,
} from "@bufbuild/protobuf";
import {
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as T,
  FileDescriptorProtoSchema,
  type DescriptorProto,
  type FieldDescriptorProto,
} from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import {
  SimpleResponseSchema,
  StreamingOutputCallResponseSchema,
  StreamingOutputCallRequestSchema,
} from "../../../gen/grpc/testing/messages_pb.js";
import { encodeMessage, encodesDirectly } from "./response-encoder.js";

// Every scalar type, singular and repeated (packed, and unpacked by option), an enum, a oneof,
// nested and recursive messages, maps, a wrapper field: proto3 and proto2 (explicit presence,
// defaults, required, a group).
const SCALARS: Array<[string, T]> = [
  ["d", T.DOUBLE],
  ["f", T.FLOAT],
  ["i64", T.INT64],
  ["u64", T.UINT64],
  ["i32", T.INT32],
  ["fx64", T.FIXED64],
  ["fx32", T.FIXED32],
  ["b", T.BOOL],
  ["s", T.STRING],
  ["by", T.BYTES],
  ["u32", T.UINT32],
  ["sfx32", T.SFIXED32],
  ["sfx64", T.SFIXED64],
  ["si32", T.SINT32],
  ["si64", T.SINT64],
];

function field(name: string, number: number, type: T, more: Partial<FieldDescriptorProto> = {}): FieldDescriptorProto {
  return { name, number, type, label: Label.OPTIONAL, jsonName: name, ...more } as FieldDescriptorProto;
}

function allTypes(pkg: string, proto2: boolean, self = "AllTypes"): DescriptorProto {
  const fields: FieldDescriptorProto[] = [];
  SCALARS.forEach(([name, type], i) => {
    fields.push(field(name, i + 1, type, proto2 ? { defaultValue: type === T.STRING ? "dflt" : undefined } : {}));
    fields.push(field(`r_${name}`, 100 + i, type, { label: Label.REPEATED }));
    if (type !== T.STRING && type !== T.BYTES)
      fields.push(field(`u_${name}`, 200 + i, type, { label: Label.REPEATED, options: { packed: false } as never }));
  });
  fields.push(
    field("e", 30, T.ENUM, { typeName: `.${pkg}.Color` }),
    field("r_e", 31, T.ENUM, { typeName: `.${pkg}.Color`, label: Label.REPEATED }),
    field("child", 32, T.MESSAGE, { typeName: `.${pkg}.${self}` }),
    field("children", 33, T.MESSAGE, { typeName: `.${pkg}.${self}`, label: Label.REPEATED }),
    field("one_s", 34, T.STRING, { oneofIndex: 0 }),
    field("one_m", 35, T.MESSAGE, { typeName: `.${pkg}.${self}`, oneofIndex: 0 }),
    field("one_i", 36, T.INT32, { oneofIndex: 0 }),
    field("counts", 37, T.MESSAGE, { typeName: `.${pkg}.AllTypes.CountsEntry`, label: Label.REPEATED }),
    field("wrapped", 38, T.MESSAGE, { typeName: ".google.protobuf.Int32Value" }),
    field("big", 536870911, T.INT32), // the largest field number: a 5-byte tag
  );
  if (proto2) {
    fields.push(field("req", 39, T.INT32, { label: Label.OPTIONAL }));
  }
  return {
    name: self,
    field: fields,
    oneofDecl: [{ name: "one" }],
    nestedType: [
      {
        name: "CountsEntry",
        field: [field("key", 1, T.STRING), field("value", 2, T.INT64)],
        options: { mapEntry: true },
      } as never,
    ],
  } as unknown as DescriptorProto;
}

function registry(pkg: string, syntax: "proto2" | "proto3") {
  const file = create(FileDescriptorProtoSchema, {
    name: `${pkg}.proto`,
    package: pkg,
    syntax,
    dependency: ["google/protobuf/wrappers.proto"],
    messageType: [
      allTypes(pkg, syntax === "proto2"),
      // Without maps, wrappers or groups: takes the encoder's own path.
      {
        ...allTypes(pkg, syntax === "proto2", "Plain"),
        field: allTypes(pkg, syntax === "proto2", "Plain").field.filter(
          (f) => f.name !== "counts" && f.name !== "wrapped" && f.name !== "req",
        ),
        nestedType: [],
      },
    ] as never,
    enumType: [
      {
        name: "Color",
        value: [
          { name: `${pkg.toUpperCase()}_RED`, number: 0 },
          { name: `${pkg.toUpperCase()}_BLUE`, number: 5 },
          { name: `${pkg.toUpperCase()}_NEG`, number: -3 },
        ],
      },
    ] as never,
  });
  return createFileRegistry(file, (name) => (name === "google/protobuf/wrappers.proto" ? wrappersFile() : undefined));
}

function wrappersFile() {
  return create(FileDescriptorProtoSchema, {
    name: "google/protobuf/wrappers.proto",
    package: "google.protobuf",
    syntax: "proto3",
    messageType: [{ name: "Int32Value", field: [field("value", 1, T.INT32)] }] as never,
  });
}

const p3 = registry("p3", "proto3");
const p2 = registry("p2", "proto2");

/** Values that exercise every encoding branch (negative varints, multi-byte tags, UTF-8, empty vs unset). */
function full(depth: number): Record<string, unknown> {
  const v: Record<string, unknown> = {
    d: -1.5e300,
    f: 3.25,
    i64: -9223372036854775808n,
    u64: 18446744073709551615n,
    i32: -2147483648,
    fx64: 1n << 40n,
    fx32: 4294967295,
    b: true,
    s: "h\u00e9llo \u{1f600} \ud800 lone surrogate",
    by: new Uint8Array([0, 1, 255]),
    u32: 300,
    sfx32: -7,
    sfx64: -(1n << 62n),
    si32: -123456,
    si64: -1234567890123n,
    rD: [0, -0, Number.NaN, Number.POSITIVE_INFINITY],
    rF: [1.5, -2.5],
    rI64: [0n, -1n, 1n << 50n],
    rU64: [0n, 1n << 63n],
    rI32: [0, -1, 127, 128, 16384],
    rFx64: [2n],
    rFx32: [3],
    rB: [true, false],
    rS: ["", "a", "\u00e9"],
    rBy: [new Uint8Array(0), new Uint8Array(200)],
    rU32: [0, 4294967295],
    rSfx32: [-1],
    rSfx64: [-1n],
    rSi32: [-1, 1, -2147483648],
    rSi64: [-1n, 9223372036854775807n],
    uI32: [-5, 5],
    uD: [1.25],
    uB: [true],
    uSi64: [-3n],
    uFx32: [1, 2],
    e: 5,
    rE: [0, 5, -3],
    big: 1,
  };
  if (depth > 0) {
    v.child = full(depth - 1);
    v.children = [full(depth - 1), {}];
  }
  return v;
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString("hex");

function same(schema: DescMessage, message: Message): void {
  expect(hex(encodeMessage(schema, message, undefined))).toBe(hex(toBinary(schema, message)));
  expect(hex(encodeMessage(schema, message, { writeUnknownFields: false }))).toBe(
    hex(toBinary(schema, message, { writeUnknownFields: false })),
  );
}

describe("encodeMessage matches toBinary byte for byte", () => {
  for (const [name, reg] of [
    ["proto3", p3],
    ["proto2", p2],
  ] as const) {
    for (const type of ["AllTypes", "Plain"]) {
      const schema = reg.getMessage(`${name === "proto3" ? "p3" : "p2"}.${type}`)!;
      it(`${name} ${type}: empty, full, nested, oneof cases, zero values`, () => {
        // Plain takes the encoder's own path; AllTypes (a map, a wrapper) is handed to toBinary.
        expect(encodesDirectly(schema)).toBe(type === "Plain");
        same(schema, create(schema));
        same(schema, create(schema, full(2) as MessageInitShape<DescMessage>));
        for (const one of [
          { case: "oneS", value: "x" },
          { case: "oneS", value: "" },
          { case: "oneI", value: 0 },
          { case: "oneM", value: create(schema, { s: "in oneof" } as never) },
        ])
          same(schema, create(schema, { one: one } as never));
        // Zero values: skipped with implicit presence, written with explicit presence.
        same(schema, create(schema, { d: -0, f: 0, i64: 0n, s: "", by: new Uint8Array(0), b: false, e: 0 } as never));
        if (type === "AllTypes") {
          same(schema, create(schema, { counts: { a: 1n, "": -1n }, wrapped: 7 } as never));
        }
      });
    }
  }

  it("unknown fields are written last, or left out with writeUnknownFields: false", () => {
    const schema = p3.getMessage("p3.Plain")!;
    const withUnknown = create(schema, { i32: 1 } as never);
    withUnknown.$unknown = [
      { no: 9999, wireType: 0, data: new Uint8Array([0x96, 0x01]) },
      { no: 1, wireType: 2, data: new Uint8Array([3, 1, 2, 3]) },
    ];
    same(schema, withUnknown);
  });

  it("messages of the interop service, from create() and from plain init objects", () => {
    expect(encodesDirectly(SimpleResponseSchema)).toBe(true);
    const body = new Uint8Array(70_000).map((_, i) => i);
    same(SimpleResponseSchema, create(SimpleResponseSchema, { payload: { body }, username: "u", oauthScope: "s" }));
    same(StreamingOutputCallResponseSchema, create(StreamingOutputCallResponseSchema, { payload: { body } }));
    same(
      StreamingOutputCallRequestSchema,
      create(StreamingOutputCallRequestSchema, {
        responseParameters: [{ size: 10, intervalUs: 5 }, { size: 0 }],
        payload: { body: new Uint8Array(3) },
        responseStatus: { code: 3, message: "m" },
      }),
    );
  });

  it("values toBinary converts or rejects go to toBinary: same bytes, same errors", () => {
    const schema = p3.getMessage("p3.Plain")!;
    const odd = create(schema);
    const m = odd as unknown as Record<string, unknown>;
    m.i32 = "12"; // a numeric string: toBinary converts it
    m.i64 = "-5";
    same(schema, odd);
    const outcome = (encode: () => Uint8Array): string => {
      try {
        return Buffer.from(encode()).toString("hex");
      } catch (e) {
        return `threw ${e instanceof Error ? e.message : String(e)}`;
      }
    };
    let threw = 0;
    for (const [k, bad] of [
      ["i32", 2 ** 31],
      ["i32", 1.5],
      ["u32", -1],
      ["f", 1e39],
      ["b", "yes"],
      ["s", 12],
      ["si64", 1.5],
      ["by", [1, 2]],
      ["rI32", "not a list"],
    ] as const) {
      const broken = create(schema);
      (broken as unknown as Record<string, unknown>)[k] = bad;
      const theirs = outcome(() => toBinary(schema, broken));
      expect(
        outcome(() => encodeMessage(schema, broken, undefined)),
        `${k} = ${String(bad)}`,
      ).toBe(theirs);
      if (theirs.startsWith("threw")) threw++;
    }
    expect(threw).toBeGreaterThan(3);
    // A message of another type where a child belongs.
    const foreign = create(schema);
    (foreign as unknown as Record<string, unknown>).child = create(p3.getMessage("p3.AllTypes")!);
    const theirs = outcome(() => toBinary(schema, foreign));
    expect(theirs).toMatch(/^threw/);
    expect(outcome(() => encodeMessage(schema, foreign, undefined))).toBe(theirs);
  });

  it("a proto2 required field that is not set fails as toBinary fails", () => {
    const file = create(FileDescriptorProtoSchema, {
      name: "req.proto",
      package: "rq",
      syntax: "proto2",
      messageType: [{ name: "R", field: [field("x", 1, T.INT32, { label: Label.REQUIRED })] }] as never,
    });
    const schema = createFileRegistry(file, () => undefined).getMessage("rq.R")!;
    expect(() => encodeMessage(schema, create(schema), undefined)).toThrow(/required field not set/);
    same(schema, create(schema, { x: 0 } as never));
  });
});

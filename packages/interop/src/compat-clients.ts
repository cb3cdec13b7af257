// Method descriptors for the two `grpc-websockets` client libraries, built from protobuf-es
// descriptors instead of their usual codegen: @improbable-eng/grpc-web expects google-protobuf
// classes (protoc + ts-protoc-gen), nice-grpc-web ts-proto output (protoc + ts-proto); neither
// protoc plugin is available here, and both libraries only need serialize/deserialize functions.
// Browser-safe: no Node-only imports.
import {
  create,
  fromBinary,
  toBinary,
  type DescMessage,
  type DescMethod,
  type DescService,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";

/** A protobuf-es message in the google-protobuf shape @improbable-eng/grpc-web calls. */
export interface ImprobableMessage<T> {
  readonly value: T;
  serializeBinary(): Uint8Array;
  toObject(): object;
}

interface ImprobableMessageClass<T> {
  new (): ImprobableMessage<T>;
  deserializeBinary(bytes: Uint8Array): ImprobableMessage<T>;
}

/** @improbable-eng/grpc-web's MethodDefinition (its `service.d.ts`), structurally. */
export interface ImprobableMethod<I extends DescMessage, O extends DescMessage> {
  methodName: string;
  service: { serviceName: string };
  requestStream: boolean;
  responseStream: boolean;
  requestType: ImprobableMessageClass<MessageShape<I>>;
  responseType: ImprobableMessageClass<MessageShape<O>>;
}

function improbableClass<S extends DescMessage>(schema: S): ImprobableMessageClass<MessageShape<S>> {
  class Wrapped implements ImprobableMessage<MessageShape<S>> {
    constructor(readonly value: MessageShape<S> = create(schema) as MessageShape<S>) {}
    serializeBinary(): Uint8Array {
      return toBinary(schema, this.value);
    }
    toObject(): object {
      return this.value;
    }
    static deserializeBinary(bytes: Uint8Array): Wrapped {
      return new Wrapped(fromBinary(schema, bytes) as MessageShape<S>);
    }
  }
  return Wrapped;
}

/** The improbable-eng method descriptor of `method`. */
export function improbableMethod<I extends DescMessage, O extends DescMessage>(
  method: DescMethod & { input: I; output: O },
): ImprobableMethod<I, O> {
  return {
    methodName: method.name,
    service: { serviceName: method.parent.typeName },
    requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
    responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
    requestType: improbableClass(method.input),
    responseType: improbableClass(method.output),
  };
}

/** Wraps a request for an improbable-eng call. */
export function improbableRequest<S extends DescMessage>(
  schema: S,
  init: MessageInitShape<S>,
): ImprobableMessage<MessageShape<S>> {
  const Class = improbableClass(schema);
  const message = new Class();
  (message as { value: MessageShape<S> }).value = create(schema, init);
  return message;
}

/** nice-grpc-web's own (generic) method definition. */
export interface NiceMethod<
  I extends DescMessage,
  O extends DescMessage,
  RequestStream extends boolean = boolean,
  ResponseStream extends boolean = boolean,
> {
  path: string;
  requestStream: RequestStream;
  responseStream: ResponseStream;
  requestSerialize(value: MessageInitShape<I>): Uint8Array;
  requestDeserialize(bytes: Uint8Array): MessageShape<I>;
  responseSerialize(value: MessageInitShape<O>): Uint8Array;
  responseDeserialize(bytes: Uint8Array): MessageShape<O>;
  options: Record<string, never>;
}

// nice-grpc-web picks a method's call shape from literal stream flags.
type NiceMethodOf<M> = M extends {
  input: infer I extends DescMessage;
  output: infer O extends DescMessage;
  methodKind: infer K;
}
  ? NiceMethod<
      I,
      O,
      K extends "client_streaming" | "bidi_streaming" ? true : false,
      K extends "server_streaming" | "bidi_streaming" ? true : false
    >
  : never;
type NiceService<S extends DescService> = { [K in keyof S["method"]]: NiceMethodOf<S["method"][K]> };

/** A nice-grpc-web ServiceDefinition of `service`, keyed by the methods' local names. */
export function niceService<S extends DescService>(service: S): NiceService<S> {
  const out: Record<string, NiceMethod<DescMessage, DescMessage>> = {};
  for (const m of service.methods) {
    out[m.localName] = {
      path: `/${service.typeName}/${m.name}`,
      requestStream: m.methodKind === "client_streaming" || m.methodKind === "bidi_streaming",
      responseStream: m.methodKind === "server_streaming" || m.methodKind === "bidi_streaming",
      requestSerialize: (value) => toBinary(m.input, create(m.input, value)),
      requestDeserialize: (bytes) => fromBinary(m.input, bytes),
      responseSerialize: (value) => toBinary(m.output, create(m.output, value)),
      responseDeserialize: (bytes) => fromBinary(m.output, bytes),
      options: {},
    };
  }
  return out as NiceService<S>;
}

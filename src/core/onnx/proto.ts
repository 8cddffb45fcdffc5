/**
 * ONNX ModelProto decoding and encoding with protobufjs and the official onnx-ml.proto schema
 * (vendored in third-party/onnx with its provenance).
 *
 * The schema is loaded from a JSON descriptor generated once from the .proto
 * (scripts/onnx-descriptor.ts) through protobufjs/light: the browser neither ships nor parses .proto
 * text, and a static code-generated module would need protobufjs-cli, which this project does not
 * install. protobufjs v8 keeps fields the schema does not know (newer ONNX releases) and writes them
 * back, so a round trip loses nothing.
 *
 * Memory: decoding keeps every `bytes` field (raw_data of embedded weights) as a view into the input
 * buffer, not a copy, and `encodeModelChunks` writes big embedded tensors as those same views, so an
 * instrumented model costs only its graph in new memory. External data (weights in separate files)
 * is never read: tensors keep their location entries and stay in their files.
 */
import * as protobuf from 'protobufjs/light.js';
import descriptor from './third-party/onnx/onnx-ml.descriptor.json';

/** An int64 field: a number, or a long.js Long where protobufjs finds that library. */
export type Int64 = number | { toNumber(): number };

export interface StringStringEntryProto {
  key?: string;
  value?: string;
}

export interface TensorProto {
  dims?: Int64[];
  dataType?: number;
  floatData?: number[];
  int32Data?: number[];
  stringData?: Uint8Array[];
  int64Data?: Int64[];
  name?: string;
  docString?: string;
  rawData?: Uint8Array;
  externalData?: StringStringEntryProto[];
  dataLocation?: number;
  doubleData?: number[];
  uint64Data?: Int64[];
}

export interface AttributeProto {
  name?: string;
  type?: number;
  f?: number;
  i?: Int64;
  s?: Uint8Array;
  t?: TensorProto;
  g?: GraphProto;
  floats?: number[];
  ints?: Int64[];
  strings?: Uint8Array[];
  tensors?: TensorProto[];
  graphs?: GraphProto[];
}

export interface NodeProto {
  input: string[];
  output: string[];
  name?: string;
  opType?: string;
  domain?: string;
  attribute: AttributeProto[];
  docString?: string;
}

export interface TensorShapeDim {
  dimValue?: Int64;
  dimParam?: string;
}

export interface TypeProto {
  tensorType?: { elemType?: number; shape?: { dim?: TensorShapeDim[] } };
}

export interface ValueInfoProto {
  name?: string;
  type?: TypeProto;
  docString?: string;
}

export interface GraphProto {
  node: NodeProto[];
  name?: string;
  initializer: TensorProto[];
  docString?: string;
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  valueInfo: ValueInfoProto[];
}

export interface OperatorSetIdProto {
  domain?: string;
  version?: Int64;
}

export interface ModelProto {
  irVersion?: Int64;
  opsetImport: OperatorSetIdProto[];
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: Int64;
  docString?: string;
  graph?: GraphProto;
  metadataProps?: StringStringEntryProto[];
}

/** ONNX TensorProto.DataType values the lab uses. */
export const DataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  BFLOAT16: 16,
} as const;

/** TensorProto.DataLocation.EXTERNAL */
export const EXTERNAL_DATA = 1;

/** AttributeProto.AttributeType values. */
export const AttributeType = {
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
} as const;

const root = protobuf.Root.fromJSON(descriptor as protobuf.INamespace);
const ModelType = root.lookupType('onnx.ModelProto');
const TensorType = root.lookupType('onnx.TensorProto');

/** A JS number from an int64 field (protobufjs gives a Long when long.js is present). */
export function toNumber(v: Int64 | undefined | null): number {
  if (v == null) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

/** Decodes ModelProto bytes; `bytes` fields of the result are views into `bytes`. Throws on malformed input. */
export function decodeModel(bytes: Uint8Array): ModelProto {
  const reader = protobuf.Reader.create(bytes);
  reader.discardUnknown = false; // keep what this schema does not know (off by default in protobufjs)
  return ModelType.decode(reader) as unknown as ModelProto;
}

function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}

/** GraphProto.initializer, ModelProto.graph and TensorProto.raw_data: field number << 3 | length-delimited. */
const INITIALIZER_TAG = (5 << 3) | 2;
const GRAPH_TAG = (7 << 3) | 2;
const RAW_DATA_TAG = (9 << 3) | 2;

/**
 * Encodes a model as a list of byte chunks whose concatenation is the serialized ModelProto.
 * Embedded tensors of at least `bigTensorBytes` are not copied: their raw_data views go into the
 * list as they are. They are written in a second occurrence of ModelProto.graph holding only those
 * initializers; protobuf parsers (onnxruntime's, onnx's, protobufjs) merge repeated occurrences of a
 * message field, so the result reads back as one graph whose initializer list has them at its end.
 */
export function encodeModelChunks(model: ModelProto, bigTensorBytes = 1 << 20): Uint8Array[] {
  const graph = model.graph;
  if (!graph) return [ModelType.encode(model).finish()];
  const all = graph.initializer;
  const big = all.filter((t) => (t.rawData?.byteLength ?? 0) >= bigTensorBytes);
  if (big.length === 0) return [ModelType.encode(model).finish()];
  let head: Uint8Array;
  graph.initializer = all.filter((t) => !big.includes(t));
  try {
    head = ModelType.encode(model).finish();
  } finally {
    graph.initializer = all;
  }
  const tail: Uint8Array[] = [];
  let tailBytes = 0;
  const push = (chunk: Uint8Array) => {
    tail.push(chunk);
    tailBytes += chunk.byteLength;
  };
  for (const tensor of big) {
    const raw = tensor.rawData as Uint8Array;
    let tensorHead: Uint8Array;
    tensor.rawData = undefined; // encoded below as a view; the tensor's other fields (and unknown ones) stay
    try {
      tensorHead = TensorType.encode(tensor).finish();
    } finally {
      tensor.rawData = raw;
    }
    const rawHeader = Uint8Array.from([RAW_DATA_TAG, ...varint(raw.byteLength)]);
    const entryBytes = tensorHead.byteLength + rawHeader.byteLength + raw.byteLength;
    push(Uint8Array.from([INITIALIZER_TAG, ...varint(entryBytes)]));
    push(tensorHead);
    push(rawHeader);
    push(raw);
  }
  return [head, Uint8Array.from([GRAPH_TAG, ...varint(tailBytes)]), ...tail];
}

/** The chunks joined into one buffer (what onnxruntime's InferenceSession.create takes). */
export function concatChunks(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(chunks.reduce((s, c) => s + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/** Serializes a model into one buffer. */
export function encodeModel(model: ModelProto): Uint8Array {
  return concatChunks(encodeModelChunks(model));
}

/**
 * A read-mostly index over an ONNX graph: who produces and who consumes each tensor, initializers,
 * small constant evaluation (shape arithmetic, scales), data dependence and a topological order.
 * Only what attention analysis and instrumentation need; no general shape inference.
 */
import {
  type AttributeProto,
  AttributeType,
  DataType,
  EXTERNAL_DATA,
  type GraphProto,
  type NodeProto,
  type TensorProto,
  toNumber,
  type ValueInfoProto,
} from './proto';

/** Ops whose output depends on the shape of their input only. */
const SHAPE_ONLY = new Set(['Shape', 'Size', 'Constant', 'ConstantOfShape', 'EyeLike']);

/** A flat list of values whose length is known; an entry is undefined where its value is not constant. */
export type PartialValues = (number | undefined)[];

export function attribute(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute?.find((a) => a.name === name);
}

export function intAttribute(node: NodeProto, name: string): number | undefined {
  const a = attribute(node, name);
  return a?.i != null ? toNumber(a.i) : undefined;
}

export function intsAttribute(node: NodeProto, name: string): number[] | undefined {
  const a = attribute(node, name);
  return a?.ints?.length ? a.ints.map(toNumber) : undefined;
}

export function floatAttribute(node: NodeProto, name: string): number | undefined {
  return attribute(node, name)?.f ?? undefined;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/** Values of an embedded tensor (at most `limit` of them), or undefined for external or unreadable data. */
export function tensorValues(t: TensorProto, limit = 4096): number[] | undefined {
  if (t.dataLocation === EXTERNAL_DATA) return undefined;
  const count = (t.dims ?? []).reduce((p: number, d) => p * toNumber(d), 1);
  if (count > limit) return undefined;
  const raw = t.rawData;
  if (raw?.byteLength) {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const out: number[] = [];
    for (let i = 0; i < count; i++) {
      switch (t.dataType) {
        case DataType.FLOAT:
          out.push(view.getFloat32(i * 4, true));
          break;
        case DataType.DOUBLE:
          out.push(view.getFloat64(i * 8, true));
          break;
        case DataType.FLOAT16:
          out.push(halfToFloat(view.getUint16(i * 2, true)));
          break;
        case DataType.INT64:
          out.push(Number(view.getBigInt64(i * 8, true)));
          break;
        case DataType.INT32:
          out.push(view.getInt32(i * 4, true));
          break;
        case DataType.INT8:
          out.push(view.getInt8(i));
          break;
        case DataType.UINT8:
        case DataType.BOOL:
          out.push(view.getUint8(i));
          break;
        default:
          return undefined;
      }
    }
    return out;
  }
  switch (t.dataType) {
    case DataType.FLOAT:
      return t.floatData?.slice(0, count);
    case DataType.DOUBLE:
      return t.doubleData?.slice(0, count);
    case DataType.INT64:
      return t.int64Data?.slice(0, count).map(toNumber);
    case DataType.FLOAT16:
      return t.int32Data?.slice(0, count).map(halfToFloat);
    case DataType.INT32:
    case DataType.INT8:
    case DataType.UINT8:
    case DataType.BOOL:
      return t.int32Data?.slice(0, count);
    default:
      return undefined;
  }
}

/** Static dims of a value info: a number per known dim, undefined for symbolic ones; undefined if no shape. */
export function valueInfoDims(v: ValueInfoProto | undefined): (number | undefined)[] | undefined {
  const dims = v?.type?.tensorType?.shape?.dim;
  if (!dims) return undefined;
  return dims.map((d) => (d.dimValue != null && toNumber(d.dimValue) > 0 ? toNumber(d.dimValue) : undefined));
}

export function valueInfoElemType(v: ValueInfoProto | undefined): number | undefined {
  return v?.type?.tensorType?.elemType ?? undefined;
}

export class GraphIndex {
  readonly producer = new Map<string, NodeProto>();
  readonly consumers = new Map<string, NodeProto[]>();
  readonly initializers = new Map<string, TensorProto>();
  readonly inputs = new Map<string, ValueInfoProto>();
  /** every tensor name in use (inputs, outputs, initializers, node outputs) */
  readonly names = new Set<string>();
  private readonly dependenceCache = new Map<string, number>();
  private readonly inputBits = new Map<string, number>();
  private readonly valueCache = new Map<string, PartialValues | undefined>();

  constructor(readonly graph: GraphProto) {
    for (const t of graph.initializer) {
      if (t.name) {
        this.initializers.set(t.name, t);
        this.names.add(t.name);
      }
    }
    for (const v of graph.input) {
      if (v.name && !this.initializers.has(v.name)) {
        this.inputBits.set(v.name, 1 << Math.min(this.inputs.size, 30));
        this.inputs.set(v.name, v);
      }
      if (v.name) this.names.add(v.name);
    }
    for (const v of graph.output) if (v.name) this.names.add(v.name);
    for (const node of graph.node) {
      for (const o of node.output) {
        if (!o) continue;
        this.producer.set(o, node);
        this.names.add(o);
      }
      for (const i of node.input) {
        if (!i) continue;
        const list = this.consumers.get(i);
        if (list) list.push(node);
        else this.consumers.set(i, [node]);
      }
    }
  }

  consumersOf(tensor: string): NodeProto[] {
    return this.consumers.get(tensor) ?? [];
  }

  /**
   * Bit mask of the graph inputs whose values the tensor depends on (bit i: the i-th graph input that
   * is not an initializer; inputs past the 30th share bit 30). Shapes do not count: a tensor computed
   * from Shape(x) only depends on nothing, so weights and shape arithmetic have mask 0.
   */
  dependence(tensor: string): number {
    const known = this.dependenceCache.get(tensor);
    if (known !== undefined) return known;
    // iterative post-order to stay clear of the call-stack limit on deep graphs
    const stack: string[] = [tensor];
    while (stack.length) {
      const t = stack[stack.length - 1];
      if (this.dependenceCache.has(t)) {
        stack.pop();
        continue;
      }
      const inputBit = this.inputBits.get(t);
      const node = this.producer.get(t);
      if (inputBit !== undefined || !t || this.initializers.has(t) || !node || SHAPE_ONLY.has(node.opType ?? '')) {
        this.dependenceCache.set(t, inputBit ?? 0);
        stack.pop();
        continue;
      }
      const pending = node.input.filter((i) => !this.dependenceCache.has(i));
      if (pending.length) {
        stack.push(...pending);
        continue;
      }
      this.dependenceCache.set(
        t,
        node.input.reduce((m, i) => m | (this.dependenceCache.get(i) ?? 0), 0),
      );
      stack.pop();
    }
    return this.dependenceCache.get(tensor) ?? 0;
  }

  /** True when the tensor's values depend on the values of a graph input (not only on shapes). */
  dataDependent(tensor: string): boolean {
    return this.dependence(tensor) !== 0;
  }

  /** The dependence bit of a graph input. */
  inputBit(name: string): number {
    return this.inputBits.get(name) ?? 0;
  }

  /** The initializer a weight input comes from, through Cast / DequantizeLinear / Identity / Transpose. */
  weightDims(tensor: string): number[] | undefined {
    let t = tensor;
    let transposed = false;
    for (let depth = 0; depth < 6; depth++) {
      const init = this.initializers.get(t);
      if (init) {
        const dims = (init.dims ?? []).map(toNumber);
        return transposed ? [...dims].reverse() : dims;
      }
      const node = this.producer.get(t);
      if (!node) return undefined;
      if (node.opType === 'Constant') {
        const v = attribute(node, 'value')?.t;
        return v ? (v.dims ?? []).map(toNumber) : undefined;
      }
      if (node.opType === 'Transpose') transposed = !transposed;
      else if (!['Cast', 'DequantizeLinear', 'Identity'].includes(node.opType ?? '')) return undefined;
      t = node.input[0];
    }
    return undefined;
  }

  /**
   * Constant evaluation of small integer/float tensors (shape arithmetic, scales), flattened.
   * Entries computed from runtime shapes are undefined; the result is undefined when even the
   * length is unknown.
   */
  values(tensor: string, depth = 0): PartialValues | undefined {
    if (this.valueCache.has(tensor)) return this.valueCache.get(tensor);
    const v = depth > 64 ? undefined : this.computeValues(tensor, depth);
    this.valueCache.set(tensor, v);
    return v;
  }

  private computeValues(tensor: string, depth: number): PartialValues | undefined {
    const init = this.initializers.get(tensor);
    if (init) return tensorValues(init);
    const node = this.producer.get(tensor);
    if (!node) return undefined;
    const inputValues = (i: number) => (node.input[i] ? this.values(node.input[i], depth + 1) : undefined);
    switch (node.opType) {
      case 'Constant': {
        const t = attribute(node, 'value')?.t;
        if (t) return tensorValues(t);
        const a = node.attribute[0];
        if (!a) return undefined;
        if (a.type === AttributeType.INT) return [toNumber(a.i)];
        if (a.type === AttributeType.INTS) return (a.ints ?? []).map(toNumber);
        if (a.type === AttributeType.FLOAT) return [a.f ?? 0];
        if (a.type === AttributeType.FLOATS) return [...(a.floats ?? [])];
        return undefined;
      }
      case 'Identity':
      case 'Unsqueeze':
      case 'Squeeze':
      case 'Reshape':
      case 'Flatten':
        return inputValues(0);
      case 'Cast': {
        const v = inputValues(0);
        const to = intAttribute(node, 'to');
        const integral = to === DataType.INT64 || to === DataType.INT32 || to === DataType.INT8;
        return v?.map((x) => (x === undefined ? undefined : integral ? Math.trunc(x) : x));
      }
      case 'Gather': {
        const data = inputValues(0);
        const idx = inputValues(1);
        if (!idx) return undefined;
        if ((intAttribute(node, 'axis') ?? 0) !== 0) return undefined;
        if (!data) {
          // Gather from a Shape: the length follows the indices even when the dims are unknown
          const src = this.producer.get(node.input[0]);
          return src?.opType === 'Shape' ? idx.map(() => undefined) : undefined;
        }
        return idx.map((i) => (i === undefined ? undefined : data[i < 0 ? data.length + i : i]));
      }
      case 'Concat': {
        const parts = node.input.map((_, i) => inputValues(i));
        if (parts.some((p) => p === undefined)) return undefined;
        return parts.flat() as PartialValues;
      }
      case 'Slice': {
        const data = inputValues(0);
        const starts = inputValues(1);
        const ends = inputValues(2);
        if (!data || !starts || !ends || starts[0] === undefined || ends[0] === undefined) return undefined;
        const n = data.length;
        const clamp = (x: number) => Math.max(0, Math.min(n, x < 0 ? n + x : x));
        return data.slice(clamp(starts[0]), clamp(ends[0]));
      }
      case 'Add':
      case 'Sub':
      case 'Mul':
      case 'Div': {
        const a = inputValues(0);
        const b = inputValues(1);
        if (!a || !b) return undefined;
        const n = Math.max(a.length, b.length);
        if (a.length !== n && a.length !== 1) return undefined;
        if (b.length !== n && b.length !== 1) return undefined;
        const op = node.opType;
        return Array.from({ length: n }, (_, i) => {
          const x = a[a.length === 1 ? 0 : i];
          const y = b[b.length === 1 ? 0 : i];
          if (x === undefined || y === undefined) return undefined;
          if (op === 'Add') return x + y;
          if (op === 'Sub') return x - y;
          if (op === 'Mul') return x * y;
          return y === 0 ? undefined : x / y;
        });
      }
      case 'Sqrt':
        return inputValues(0)?.map((x) => (x === undefined ? undefined : Math.sqrt(x)));
      case 'Reciprocal':
        return inputValues(0)?.map((x) => (x === undefined || x === 0 ? undefined : 1 / x));
      default:
        return undefined;
    }
  }

  /** The single constant value of a tensor (a scalar or a one-element tensor), if it has one. */
  scalar(tensor: string): number | undefined {
    const v = this.values(tensor);
    return v?.length === 1 ? v[0] : undefined;
  }
}

/**
 * Nodes in a topological order that keeps the given order wherever it is already valid: among the
 * nodes whose inputs are ready, the earliest in the list goes first. Throws on a cycle.
 */
export function topologicalOrder(nodes: readonly NodeProto[], available: Iterable<string>): NodeProto[] {
  const ready = new Set<string>(available);
  ready.add('');
  const producerIndex = new Map<string, number>();
  nodes.forEach((n, i) => {
    for (const o of n.output) if (o) producerIndex.set(o, i);
  });
  const waiting = new Map<number, number>(); // node index -> inputs not yet produced
  const dependents = new Map<number, number[]>();
  nodes.forEach((n, i) => {
    let missing = 0;
    for (const input of new Set(n.input)) {
      if (ready.has(input)) continue;
      const p = producerIndex.get(input);
      if (p === undefined) continue; // an outer-scope or unknown name: onnxruntime will report it
      missing++;
      const list = dependents.get(p);
      if (list) list.push(i);
      else dependents.set(p, [i]);
    }
    waiting.set(i, missing);
  });
  // binary min-heap of ready node indices
  const heap: number[] = [];
  const pushHeap = (x: number) => {
    heap.push(x);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent] <= heap[i]) break;
      [heap[parent], heap[i]] = [heap[i], heap[parent]];
      i = parent;
    }
  };
  const popHeap = (): number => {
    const top = heap[0];
    const last = heap.pop() as number;
    if (heap.length) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && heap[l] < heap[m]) m = l;
        if (r < heap.length && heap[r] < heap[m]) m = r;
        if (m === i) break;
        [heap[m], heap[i]] = [heap[i], heap[m]];
        i = m;
      }
    }
    return top;
  };
  for (const [i, missing] of waiting) if (missing === 0) pushHeap(i);
  const out: NodeProto[] = [];
  while (heap.length) {
    const i = popHeap();
    out.push(nodes[i]);
    for (const d of dependents.get(i) ?? []) {
      const left = (waiting.get(d) as number) - 1;
      waiting.set(d, left);
      if (left === 0) pushHeap(d);
    }
  }
  if (out.length !== nodes.length) throw new Error(`the graph has a cycle (${nodes.length - out.length} nodes)`);
  return out;
}

/**
 * Instruments a Stable-Diffusion-family UNet graph for the lab (pure: bytes in, bytes out).
 *
 * Added inputs (float32, batch first so baseline and pruned variants share one batch):
 * - self_attn_head_mask [batch, selfBlocks, maxSelfHeads], cross_attn_head_mask [batch, crossBlocks,
 *   maxCrossHeads]: one Mul on the input of each block's output projection (to_out.0), where the
 *   heads sit side by side in head order; the mask row is widened to that layout by a MatMul with a
 *   constant 0/1 matrix. The same edit serves plain and fused graphs, since a fused node's output is
 *   that input.
 * - cross_attn_value_mask [batch, crossBlocks, maxValueWidth]: one Mul on each cross-attention
 *   block's value projection output. With packed K/V ([B, T, N, 2, H], no separate value tensor) the
 *   packed tensor is multiplied by 1 on the key half and by the mask on the value half, which is the
 *   same as masking the value projection output.
 * Added outputs (float32):
 * - cross_attn_probs_i [batch, heads, pixels, tokens] per cross block: plain graphs reuse the
 *   block's Softmax; fused graphs hide it, so a side branch recomputes softmax(Q K^T * scale) from
 *   the fused node's query and key (plus its bias). Pixels are average-pooled by an integer factor so
 *   the map side is at most `attentionMapLimit` (16 by default). For SD 1.5 at 512 px (64x64
 *   latent; 16 cross blocks of 8 heads: 5 at 64x64, 5 at 32x32, 5 at 16x16, the mid block at 8x8;
 *   77 tokens) that is 15 x 8 x 16^2 x 77 x 4 + 8 x 8^2 x 77 x 4 bytes = 9.6 MB per batch row per
 *   UNet call, against 66 MB unpooled (50 MB of it in the five 64x64 blocks).
 * - cross_attn_values [batch, crossBlocks, tokens, maxValueWidth]: value projection outputs before
 *   the value mask, zero-padded to the widest block (NeMo's activation statistics).
 * Half-precision graphs get Casts: masks are widened in float32 and cast to the tensor's type;
 * captured tensors are cast to float32.
 */
import { type AnalyzeOptions, type AttentionBlock, analyzeUNet, type UNetAnalysis } from './analyze';
import { HEAD_MASK_KINDS, type LabUNetDescription, labUNetSchema, VALUE_NEURON_MASK_KIND } from './description';
import { UnsupportedModelError } from './errors';
import { GraphIndex, intAttribute, tensorValues, topologicalOrder } from './graph';
import {
  type AttributeProto,
  AttributeType,
  DataType,
  decodeModel,
  EXTERNAL_DATA,
  encodeModelChunks,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from './proto';

export const MASK_INPUTS = {
  selfHeads: 'self_attn_head_mask',
  crossHeads: 'cross_attn_head_mask',
  crossValues: 'cross_attn_value_mask',
} as const;
export const VALUE_OUTPUT = 'cross_attn_values';
export const attentionOutputName = (i: number) => `cross_attn_probs_${i}`;
export const DEFAULT_ATTENTION_MAP_LIMIT = 16;

export interface InstrumentOptions extends AnalyzeOptions {
  /** largest side of a captured attention map; larger blocks are average-pooled (default 16) */
  attentionMapLimit?: number;
  /** embedded tensors at least this large are passed through as views when encoding (default 1 MiB) */
  bigTensorBytes?: number;
  /**
   * Add the attention-map and value outputs (default true). onnxruntime computes every graph output
   * on every run, fetched or not, so a graph for runs that never look at maps (batch studies)
   * is cheaper without them; the masks work the same.
   */
  capture?: boolean;
}

export interface InstrumentedModel {
  model: ModelProto;
  description: LabUNetDescription;
  analysis: UNetAnalysis;
}

export interface InstrumentedUNet {
  /** the instrumented ModelProto as byte chunks (concatenate or write in order) */
  chunks: Uint8Array[];
  description: LabUNetDescription;
  analysis: UNetAnalysis;
  /** external weight files the graph reads, as written in the graph (relative to its folder) */
  externalFiles: string[];
}

/** The external data files a model's initializers point to (their `location` entries). */
export function externalFilesOf(model: ModelProto): string[] {
  const files = new Set<string>();
  for (const t of model.graph?.initializer ?? []) {
    if (t.dataLocation !== EXTERNAL_DATA) continue;
    const location = t.externalData?.find((e) => e.key === 'location')?.value;
    if (location) files.add(location);
  }
  return [...files];
}

/** Decodes UNet bytes, refusing damaged ones with a plain-words message. */
export function readModel(bytes: Uint8Array): ModelProto {
  try {
    return decodeModel(bytes);
  } catch (e) {
    throw new UnsupportedModelError(
      'The UNet file is damaged or incomplete (it may not have finished downloading), so the lab cannot read it.',
      `${bytes.byteLength} bytes; protobuf decoding failed: ${(e as Error).message}`,
    );
  }
}

/** Smallest whole factor >= side/limit that divides the side (side itself, a 1x1 map, at worst). */
export function poolFactor(side: number, limit: number): number {
  if (side <= limit) return 1;
  for (let p = Math.ceil(side / limit); p < side; p++) if (side % p === 0) return p;
  return side;
}

const ints = (name: string, values: number[]): AttributeProto => ({ name, type: AttributeType.INTS, ints: values });
const int = (name: string, value: number): AttributeProto => ({ name, type: AttributeType.INT, i: value });

/** New nodes and constants, with names that cannot clash with the graph's. */
class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private counter = 0;

  constructor(
    private readonly index: GraphIndex,
    readonly opset: number,
  ) {}

  fresh(base: string): string {
    let name: string;
    do name = `memlab/${base}_${this.counter++}`;
    while (this.index.names.has(name));
    this.index.names.add(name);
    return name;
  }

  op(opType: string, inputs: string[], attribute: AttributeProto[] = [], output?: string): string {
    const out = output ?? this.fresh(opType);
    this.nodes.push({
      name: this.fresh(`${opType}_node`),
      opType,
      domain: '',
      input: inputs,
      output: [out],
      attribute,
    });
    return out;
  }

  /** Splits a mask [B, L, U] into its L layers [B, 1, U] with one node. */
  layers(tensor: string, count: number): string[] {
    const outputs = Array.from({ length: count }, () => this.fresh('layer'));
    const sizes = Array(count).fill(1);
    // split sizes became an input in opset 13
    const [input, attribute] =
      this.opset >= 13
        ? [[tensor, this.int64(sizes)], [int('axis', 1)]]
        : [[tensor], [int('axis', 1), ints('split', sizes)]];
    this.nodes.push({ name: this.fresh('Split_node'), opType: 'Split', domain: '', input, output: outputs, attribute });
    return outputs;
  }

  int64(values: number[], dims: number[] = [values.length]): string {
    const name = this.fresh('const');
    this.initializers.push({ name, dataType: DataType.INT64, dims, int64Data: values });
    return name;
  }

  float(values: ArrayLike<number>, dims: number[]): string {
    const name = this.fresh('const');
    const data = Float32Array.from(values);
    this.initializers.push({ name, dataType: DataType.FLOAT, dims, rawData: new Uint8Array(data.buffer) });
    return name;
  }

  cast(tensor: string, to: number): string {
    return this.op('Cast', [tensor], [int('to', to)]);
  }

  slice(tensor: string, start: number, end: number, axis: number): string {
    return this.op('Slice', [tensor, this.int64([start]), this.int64([end]), this.int64([axis])]);
  }

  reshape(tensor: string, shape: number[] | string): string {
    return this.op('Reshape', [tensor, typeof shape === 'string' ? shape : this.int64(shape)]);
  }

  unsqueeze(tensor: string, axes: number[]): string {
    // axes became an input in opset 13
    if (this.opset >= 13) return this.op('Unsqueeze', [tensor, this.int64(axes)]);
    return this.op('Unsqueeze', [tensor], [ints('axes', axes)]);
  }

  /**
   * Gives a tensor a new name (to make it a named graph output without a copy): the node that
   * writes it and every node that reads it, new or original, follow.
   */
  rename(tensor: string, name: string): void {
    const graph = this.index.graph;
    const own = this.nodes.find((n) => n.output.includes(tensor));
    const writer = own ?? this.index.producer.get(tensor);
    if (!writer) throw new Error(`no node writes ${tensor}`);
    writer.output = writer.output.map((o) => (o === tensor ? name : o));
    for (const node of [...graph.node, ...this.nodes]) {
      if (node.input.includes(tensor)) node.input = node.input.map((x) => (x === tensor ? name : x));
    }
    for (const v of graph.valueInfo ?? []) if (v.name === tensor) v.name = name;
    this.index.names.add(name);
  }

  reduceMean(tensor: string, axes: number[]): string {
    // axes became an input in opset 18
    if (this.opset >= 18) return this.op('ReduceMean', [tensor, this.int64(axes)], [int('keepdims', 0)]);
    return this.op('ReduceMean', [tensor], [ints('axes', axes), int('keepdims', 0)]);
  }
}

function floatInput(name: string, batch: string, layers: number, units: number): ValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: DataType.FLOAT,
        shape: { dim: [{ dimParam: batch }, { dimValue: layers }, { dimValue: units }] },
      },
    },
  };
}

function floatOutput(name: string, dims: (string | number)[]): ValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** The float type of a tensor: its projection's weight type, its Cast target, else the graph's. */
function floatTypeOf(index: GraphIndex, tensor: string, fallback: number): number {
  let t = tensor;
  for (let step = 0; step < 4; step++) {
    const node = index.producer.get(t);
    if (!node) return index.initializers.get(t)?.dataType ?? fallback;
    if (node.opType === 'Cast') return intAttribute(node, 'to') ?? fallback;
    if (node.opType === 'MatMul' || node.opType === 'Gemm') {
      let w = node.input[1];
      for (let k = 0; k < 4; k++) {
        const init = index.initializers.get(w);
        if (init) return init.dataType ?? fallback;
        const p = index.producer.get(w);
        if (!p) break;
        if (p.opType === 'Cast') return intAttribute(p, 'to') ?? fallback;
        if (p.opType === 'DequantizeLinear') return DataType.FLOAT;
        w = p.input[0];
      }
      return fallback;
    }
    if (!['Add', 'Reshape', 'Transpose', 'Identity'].includes(node.opType ?? '')) return fallback;
    t = node.input[0];
  }
  return fallback;
}

/** Instruments a decoded UNet in place and describes it. */
export function instrumentModel(model: ModelProto, options: InstrumentOptions = {}): InstrumentedModel {
  const analysis = analyzeUNet(model, options);
  const graph = model.graph as NonNullable<ModelProto['graph']>;
  const index = new GraphIndex(graph);
  const b = new GraphBuilder(index, analysis.opset);
  const limit = options.attentionMapLimit ?? DEFAULT_ATTENTION_MAP_LIMIT;
  const capture = options.capture ?? true;
  const graphFloat = analysis.dtype === 'float16' ? DataType.FLOAT16 : DataType.FLOAT;
  const toType = (tensor: string, type: number) => (type === DataType.FLOAT ? tensor : b.cast(tensor, type));
  const toFloat32 = (tensor: string) => (graphFloat === DataType.FLOAT ? tensor : b.cast(tensor, DataType.FLOAT));

  const cross = analysis.blocks.filter((x) => x.kind === 'cross');
  const self = analysis.blocks.filter((x) => x.kind === 'self');
  const sampleDims = index.inputs.get(analysis.inputs.sample)?.type?.tensorType?.shape?.dim;
  const batch = sampleDims?.[0]?.dimParam || 'batch';
  const contextDims = index.inputs.get(analysis.inputs.context)?.type?.tensorType?.shape?.dim;
  const tokensDim = contextDims?.[1]?.dimParam || (analysis.contextTokens ?? 'tokens');
  const newInputs: ValueInfoProto[] = [];
  const newOutputs: ValueInfoProto[] = [];
  const masks: LabUNetDescription['masks'] = [];

  // head masks: one Mul on each block's merged-heads tensor
  const expansions = new Map<string, string>();
  const headMask = (blocks: AttentionBlock[], name: string, kind: string) => {
    if (!blocks.length) return;
    const maxHeads = Math.max(...blocks.map((x) => x.heads));
    newInputs.push(floatInput(name, batch, blocks.length, maxHeads));
    masks.push({ name, layers: blocks.length, units: maxHeads, kind });
    const rows = b.layers(name, blocks.length); // [B, 1, maxHeads] each
    blocks.forEach((block, i) => {
      const key = `${maxHeads}x${block.heads}x${block.headSize}`;
      let expand = expansions.get(key);
      if (!expand) {
        const e = new Float32Array(maxHeads * block.width);
        for (let h = 0; h < block.heads; h++)
          e.fill(1, h * block.width + h * block.headSize, h * block.width + (h + 1) * block.headSize);
        expand = b.float(e, [maxHeads, block.width]);
        expansions.set(key, expand);
      }
      const widened = b.op('MatMul', [rows[i], expand]); // [B, 1, width]
      const type = floatTypeOf(index, block.output.tensor, graphFloat);
      const masked = b.op('Mul', [block.output.tensor, toType(widened, type)]);
      for (const use of block.output.uses) use.node.input[use.index] = masked;
    });
  };
  headMask(self, MASK_INPUTS.selfHeads, HEAD_MASK_KINDS.self);
  headMask(cross, MASK_INPUTS.crossHeads, HEAD_MASK_KINDS.cross);

  // value-neuron masks and the value output (read before the mask)
  const maxWidth = Math.max(...cross.map((x) => x.width));
  newInputs.push(floatInput(MASK_INPUTS.crossValues, batch, cross.length, maxWidth));
  masks.push({ name: MASK_INPUTS.crossValues, layers: cross.length, units: maxWidth, kind: VALUE_NEURON_MASK_KIND });
  const valueParts: string[] = [];
  const valueRows = b.layers(MASK_INPUTS.crossValues, cross.length); // [B, 1, maxWidth] each
  cross.forEach((block, i) => {
    let row = valueRows[i];
    if (block.width < maxWidth) row = b.slice(row, 0, block.width, 2);
    let values: () => string;
    if (block.value) {
      const tensor = block.value.tensor;
      values = () => tensor;
      const type = floatTypeOf(index, tensor, graphFloat);
      const masked = b.op('Mul', [tensor, toType(row, type)]);
      block.value.use.node.input[block.value.use.index] = masked;
    } else if (block.packedKv) {
      const kv = block.packedKv.tensor;
      const perHead = b.reshape(row, [-1, 1, block.heads, 1, block.headSize]);
      const one = b.float([1], []);
      const valueHalf = b.float([0, 1], [1, 1, 1, 2, 1]);
      // 1 on the key half, the mask on the value half
      const factor = b.op('Add', [b.op('Mul', [b.op('Sub', [perHead, one]), valueHalf]), one]);
      const masked = b.op('Mul', [kv, toType(factor, floatTypeOf(index, kv, graphFloat))]);
      block.packedKv.use.node.input[block.packedKv.use.index] = masked;
      values = () => b.reshape(b.slice(kv, 1, 2, 3), [0, 0, -1]);
    } else {
      throw new UnsupportedModelError(
        `The lab could not find the value projection of the cross-attention layer ${block.name}.`,
        `${block.form} block at ${block.anchor.name}`,
      );
    }
    if (!capture) return;
    let v = toFloat32(values());
    if (block.width < maxWidth) {
      v = b.op('Pad', [v, b.int64([0, 0, 0, 0, 0, maxWidth - block.width])]);
    }
    valueParts.push(b.reshape(v, [0, 1, -1, maxWidth]));
  });
  if (capture) {
    b.op('Concat', valueParts, [int('axis', 1)], VALUE_OUTPUT);
    newOutputs.push(floatOutput(VALUE_OUTPUT, [batch, cross.length, tokensDim, maxWidth]));
  }

  // cross-attention probabilities
  let sampleShape: string | undefined;
  const sampleSide = (axis: number, divisor: number) => {
    sampleShape ??= b.op('Shape', [analysis.inputs.sample]);
    return b.op('Div', [b.op('Gather', [sampleShape, b.int64([axis])], [int('axis', 0)]), b.int64([divisor])]);
  };
  const layers: LabUNetDescription['layers'] = [];
  const crossAttention: LabUNetDescription['crossAttention'] = [];
  let bytesPerRow = 0;
  const captureProbs = (block: AttentionBlock, p: number): string => {
    let probs: string; // [B, N, Sq, Sk] float32
    if (block.probs) {
      probs = toFloat32(block.probs.tensor);
      if (block.probs.rank === 3) {
        // [B*N, Sq, Sk] -> [1, B*N, Sq, Sk] -> [B, N, Sq, Sk] (a 0 in Reshape's shape copies that dim)
        probs = b.reshape(b.unsqueeze(probs, [0]), [-1, block.heads, 0, 0]);
      }
    } else if (block.fused) {
      let q = toFloat32(block.fused.query);
      let k = block.fused.key
        ? toFloat32(block.fused.key)
        : toFloat32(b.reshape(b.slice((block.packedKv as { tensor: string }).tensor, 0, 1, 3), [0, 0, -1]));
      const bias = block.fused.bias;
      const biasValues = bias ? index.initializers.get(bias) : undefined;
      const zeroBias = biasValues && tensorValues(biasValues, Number.POSITIVE_INFINITY)?.every((x) => x === 0);
      if (bias && !zeroBias) {
        const b32 = toFloat32(bias);
        q = b.op('Add', [q, b.slice(b32, 0, block.width, 0)]);
        k = b.op('Add', [k, b.slice(b32, block.width, 2 * block.width, 0)]);
      }
      const split = [0, 0, block.heads, block.headSize];
      const scaled = b.op('Mul', [q, b.float([block.fused.scale], [])]); // Sq x width, fewer than Sq x Sk x heads
      const qh = b.op('Transpose', [b.reshape(scaled, split)], [ints('perm', [0, 2, 1, 3])]);
      const kt = b.op('Transpose', [b.reshape(k, split)], [ints('perm', [0, 2, 3, 1])]);
      probs = b.op('Softmax', [b.op('MatMul', [qh, kt])], [int('axis', -1)]);
    } else {
      throw new UnsupportedModelError(
        `The lab could not find the attention probabilities of the cross-attention layer ${block.name}.`,
        `${block.form} block at ${block.anchor.name}`,
      );
    }
    if (p > 1) {
      const f = block.downsampling * p;
      const tokens = b.slice(b.op('Shape', [probs]), 3, 4, 0);
      const h = sampleSide(2, f);
      const w = sampleSide(3, f);
      const shape7 = b.op(
        'Concat',
        [b.int64([-1, block.heads]), h, b.int64([p]), w, b.int64([p]), tokens],
        [int('axis', 0)],
      );
      const pooled = b.reduceMean(b.reshape(probs, shape7), [3, 5]);
      const shape4 = b.op('Concat', [b.int64([-1, block.heads]), b.op('Mul', [h, w]), tokens], [int('axis', 0)]);
      probs = b.reshape(pooled, shape4);
    }
    return probs;
  };
  cross.forEach((block, i) => {
    const p = poolFactor(block.resolution, limit);
    const name = attentionOutputName(i);
    const side = Math.max(1, Math.floor(block.resolution / p));
    if (capture) {
      b.rename(captureProbs(block, p), name);
      newOutputs.push(floatOutput(name, [batch, block.heads, side * side, tokensDim]));
    }
    layers.push({ name: block.name, resolution: side, heads: block.heads, crossAttentionOutput: name });
    crossAttention.push({
      name: block.name,
      module: block.module,
      form: block.form,
      heads: block.heads,
      headSize: block.headSize,
      valueWidth: block.width,
      blockResolution: block.resolution,
      poolFactor: p,
    });
    bytesPerRow += block.heads * side * side * (analysis.contextTokens ?? 77) * 4;
  });

  for (const name of [...newInputs, ...newOutputs].map((v) => v.name as string)) {
    if (index.inputs.has(name) || graph.output.some((o) => o.name === name)) {
      throw new UnsupportedModelError(
        'This UNet has already been prepared by the lab; load the original export instead.',
        `${name} already exists`,
      );
    }
  }
  graph.initializer = [...graph.initializer, ...b.initializers];
  graph.node = topologicalOrder(
    [...graph.node, ...b.nodes],
    [
      ...graph.input.map((v) => v.name as string),
      ...newInputs.map((v) => v.name as string),
      ...graph.initializer.map((t) => t.name as string),
    ],
  );
  graph.input = [...graph.input, ...newInputs];
  graph.output = [...graph.output, ...newOutputs];

  const description = labUNetSchema.parse({
    inputs: analysis.inputs,
    noiseOutput: analysis.noiseOutput,
    masks,
    layers,
    valueOutput: VALUE_OUTPUT,
    captures: capture,
    crossAttention,
    selfAttention: self.map((x) => ({
      name: x.name,
      module: x.module,
      form: x.form,
      heads: x.heads,
      headSize: x.headSize,
      resolution: x.resolution,
    })),
    graph: {
      dtype: analysis.dtype,
      timestepType: analysis.timestepType,
      opset: analysis.opset,
      producer: analysis.producer,
      sampleSize: analysis.sampleSize,
      sampleSizeFrom: analysis.sampleSizeFrom,
      latentChannels: analysis.latentChannels,
      contextWidth: analysis.contextWidth,
      contextTokens: analysis.contextTokens,
    },
    attentionMaps: { limit, bytesPerRow: capture ? bytesPerRow : 0 },
    warnings: analysis.warnings,
  });
  return { model, description, analysis };
}

/** Bytes of a UNet graph in, instrumented graph (as chunks; big embedded weights are views) and description out. */
export function instrumentUNet(bytes: Uint8Array, options: InstrumentOptions = {}): InstrumentedUNet {
  const { model, description, analysis } = instrumentModel(readModel(bytes), options);
  return {
    chunks: encodeModelChunks(model, options.bigTensorBytes),
    description,
    analysis,
    externalFiles: externalFilesOf(model),
  };
}

/**
 * Finds every attention block of a Stable-Diffusion-family UNet graph, in the forms that circulate:
 *
 * - plain torch.onnx exports: projection MatMuls (to_q, to_k, to_v), a head split by Reshape and
 *   Transpose, scores MatMul (scaled after it, PyTorch 1, or q and k each scaled by sqrt(1/sqrt(d))
 *   before it, PyTorch 2's scaled_dot_product_attention), Softmax over the keys, MatMul with v, the
 *   heads merged back and the output projection (to_out.0). Anchored on each Softmax;
 * - onnxruntime-fused graphs: com.microsoft.MultiHeadAttention (separate q/k/v, packed QKV
 *   [B,S,N,3,H], packed KV [B,S,N,2,H]) and com.microsoft.Attention (packed projection weights).
 *
 * Nothing here knows a model's names or sizes. Cross-attention is the block whose keys depend on the
 * text input and not on the image input. The head count comes from the graph (the num_heads
 * attribute of fused nodes; the constant head-count entry of the head-split Reshape's target shape in
 * plain exports; failing that, the score scale 1/sqrt(d)), checked against unet/config.json when one
 * is given. A block's resolution comes from following the image input through the graph: each
 * strided Conv or pooling divides the spatial size by its stride, each Resize multiplies it by its
 * constant scale, so the query of a block sits at (sample size) / (product of factors); the sample
 * size is the config's sample_size, else a static dim of the sample input, else the caller's.
 * Module paths come from node and tensor names (plain exports keep them; fused nodes lose theirs,
 * so the path is taken from the fused node's output tensor and the untouched projection MatMuls
 * around it).
 */
import { UnsupportedModelError } from './errors';
import {
  floatAttribute,
  GraphIndex,
  intAttribute,
  intsAttribute,
  topologicalOrder,
  valueInfoDims,
  valueInfoElemType,
} from './graph';
import { DataType, type ModelProto, type NodeProto, toNumber, type ValueInfoProto } from './proto';

export type AttentionKind = 'cross' | 'self';
export type AttentionForm = 'plain' | 'fused-attention' | 'fused-mha' | 'fused-mha-packed-qkv' | 'fused-mha-packed-kv';

/** An input slot of a node: where an instrumented tensor replaces the original one. */
export interface TensorUse {
  node: NodeProto;
  index: number;
}

export interface AttentionBlock {
  kind: AttentionKind;
  form: AttentionForm;
  /** module path without the leading slash (e.g. down_blocks.0/attentions.0/transformer_blocks.0/attn2), '' if the graph has no names */
  module: string;
  /** display name (module path without the attention module and a lone transformer_blocks.0) */
  name: string;
  heads: number;
  headSize: number;
  /** heads x headSize: the width of q, k, v and of the merged heads */
  width: number;
  /** where the head count was read */
  headsFrom: string;
  /** spatial downsampling from the sample input to the block's query (1, 2, 4, ...) */
  downsampling: number;
  /** side of the block's query grid at the model's sample size */
  resolution: number;
  /** the merged heads [B, S, width] and the slots that read them (to_out.0's input) */
  output: { tensor: string; uses: TensorUse[] };
  /** the value projection output [B, T, width] and the slot that reads it (plain; fused with separate inputs) */
  value?: { tensor: string; use: TensorUse };
  /** packed key/value [B, T, N, 2, H] and the slot that reads it */
  packedKv?: { tensor: string; use: TensorUse };
  /** plain graphs: the Softmax output, [B*N, Sq, Sk] (rank 3) or [B, N, Sq, Sk] (rank 4) */
  probs?: { tensor: string; rank: 3 | 4 };
  /** fused graphs: query [B, Sq, width] and key [B, Sk, width] as the fused node reads them */
  fused?: { query: string; key?: string; bias?: string; scale: number };
  /** the graph node the block was found at (Softmax or fused node) */
  anchor: NodeProto;
}

export interface UNetAnalysis {
  opset: number;
  /** the UNet's float type, from its sample input */
  dtype: 'float32' | 'float16';
  inputs: { sample: string; timestep: string; context: string };
  timestepType: string;
  noiseOutput: string;
  sampleSize: number;
  sampleSizeFrom: 'config' | 'graph' | 'caller';
  latentChannels?: number;
  contextWidth?: number;
  contextTokens?: number;
  producer: string;
  blocks: AttentionBlock[];
  warnings: string[];
}

/** The part of diffusers' unet/config.json the analysis reads. */
export interface DiffusersUNetConfig {
  sample_size?: number | number[];
  in_channels?: number;
  attention_head_dim?: number | number[];
  num_attention_heads?: number | number[] | null;
  block_out_channels?: number[];
  cross_attention_dim?: number | number[];
}

export interface AnalyzeOptions {
  /** parsed unet/config.json, if the folder has one */
  config?: DiffusersUNetConfig;
  /** latent side to assume when neither the config nor the graph gives it */
  sampleSize?: number;
}

const ELEM_TYPE_NAMES: Record<number, string> = {
  [DataType.FLOAT]: 'float32',
  [DataType.FLOAT16]: 'float16',
  [DataType.DOUBLE]: 'float64',
  [DataType.INT64]: 'int64',
  [DataType.INT32]: 'int32',
  [DataType.BFLOAT16]: 'bfloat16',
};

const FUSED_DOMAIN = 'com.microsoft';
const UNSUPPORTED_FUSED = new Set([
  'PackedAttention',
  'PackedMultiHeadAttention',
  'GroupQueryAttention',
  'DecoderMaskedMultiHeadAttention',
  'SparseAttention',
  'QAttention',
]);

const INSTRUMENTED_INPUTS = ['cross_attn_head_mask', 'self_attn_head_mask', 'cross_attn_value_mask'];

function rankOf(v: ValueInfoProto | undefined): number | undefined {
  return v?.type?.tensorType?.shape?.dim?.length;
}

function describeInputs(index: GraphIndex): string {
  return [...index.inputs.values()]
    .map((v) => {
      const dims = valueInfoDims(v);
      const type = ELEM_TYPE_NAMES[valueInfoElemType(v) ?? -1] ?? `type ${valueInfoElemType(v)}`;
      return `${v.name} (${type}, rank ${dims ? dims.length : '?'})`;
    })
    .join(', ');
}

function opsetOf(model: ModelProto): number | undefined {
  const entry = model.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx');
  return entry ? toNumber(entry.version) : undefined;
}

/** A MatMul or Gemm applying constant weights to a data tensor: a linear projection. */
function isProjection(index: GraphIndex, node: NodeProto | undefined): boolean {
  if (!node || (node.opType !== 'MatMul' && node.opType !== 'Gemm') || (node.domain ?? '') !== '') return false;
  return index.dataDependent(node.input[0]) && !index.dataDependent(node.input[1]);
}

function projectionWidth(index: GraphIndex, node: NodeProto): number | undefined {
  const dims = index.weightDims(node.input[1]);
  if (dims?.length !== 2) return undefined;
  const transB = node.opType === 'Gemm' && intAttribute(node, 'transB') === 1;
  return transB ? dims[0] : dims[1];
}

interface ProjectionTrace {
  projection: NodeProto;
  /** Reshape nodes met on the way, from the projection down */
  reshapes: NodeProto[];
  /** rank of the traced tensor, from the nearest Reshape or Transpose */
  rank?: number;
  /** constants the path multiplies by (or divides by: stored as their reciprocal) */
  scales: number[];
}

/**
 * From a tensor inside an attention block up to the projection MatMul that made it, through the
 * head split (Reshape, Transpose), scaling (Mul, Div by constants), bias Add and Cast.
 */
function traceProjection(index: GraphIndex, tensor: string): ProjectionTrace | undefined {
  const reshapes: NodeProto[] = [];
  const scales: number[] = [];
  let rank: number | undefined;
  let t = tensor;
  for (let step = 0; step < 16; step++) {
    const node = index.producer.get(t);
    if (!node) return undefined;
    if (isProjection(index, node)) return { projection: node, reshapes: reshapes.reverse(), rank, scales };
    const op = node.opType ?? '';
    if ((node.domain ?? '') !== '') return undefined;
    if (op === 'Reshape') {
      reshapes.push(node);
      rank ??= index.values(node.input[1])?.length;
      t = node.input[0];
    } else if (op === 'Transpose') {
      rank ??= intsAttribute(node, 'perm')?.length;
      t = node.input[0];
    } else if (op === 'Cast' || op === 'Identity' || op === 'Squeeze' || op === 'Unsqueeze') {
      t = node.input[0];
    } else if (op === 'Mul' || op === 'Div' || op === 'Add') {
      const dynamic = node.input.filter((i) => index.dataDependent(i));
      if (dynamic.length !== 1) return undefined;
      const other = node.input.find((i) => i !== dynamic[0]);
      if (op !== 'Add' && other !== undefined) {
        const s = index.scalar(other);
        if (s !== undefined) scales.push(op === 'Mul' ? s : 1 / s);
      }
      t = dynamic[0];
    } else {
      return undefined;
    }
  }
  return undefined;
}

/** Walks down single-path ops from a tensor to the first node that `accept`s it. */
function findDown(
  index: GraphIndex,
  tensor: string,
  through: ReadonlySet<string>,
  accept: (node: NodeProto, tensor: string) => boolean,
): { node: NodeProto; tensor: string } | undefined {
  let t = tensor;
  for (let step = 0; step < 12; step++) {
    const consumers = index.consumersOf(t).filter((n) => n.opType !== 'Shape' && n.opType !== 'Size');
    const hit = consumers.find((n) => accept(n, t));
    if (hit) return { node: hit, tensor: t };
    const next = consumers.filter((n) => through.has(n.opType ?? '') && (n.domain ?? '') === '');
    if (next.length !== 1) return undefined;
    t = next[0].output[0];
  }
  return undefined;
}

/** From the Softmax input up to the scores MatMul (both inputs data), through scaling, bias and mask adds. */
function findScores(index: GraphIndex, tensor: string, depth = 0): NodeProto | undefined {
  if (depth > 8) return undefined;
  const node = index.producer.get(tensor);
  if (!node || (node.domain ?? '') !== '') return undefined;
  if (node.opType === 'MatMul') {
    return index.dataDependent(node.input[0]) && index.dataDependent(node.input[1]) ? node : undefined;
  }
  if (!['Add', 'Mul', 'Div', 'Sub', 'Cast', 'Where', 'Identity'].includes(node.opType ?? '')) return undefined;
  for (const input of node.input) {
    if (!input || !index.dataDependent(input)) continue;
    const found = findScores(index, input, depth + 1);
    if (found) return found;
  }
  return undefined;
}

const MERGE_OPS = new Set(['Transpose', 'Reshape', 'Cast', 'Identity']);
const PROBS_OPS = new Set(['Cast', 'Identity', 'Dropout']);

/** Uses of a tensor that read its values (Shape and Size only read its shape). */
function valueUses(index: GraphIndex, tensor: string): TensorUse[] {
  const uses: TensorUse[] = [];
  for (const node of index.consumersOf(tensor)) {
    if (node.opType === 'Shape' || node.opType === 'Size') continue;
    node.input.forEach((name, i) => {
      if (name === tensor) uses.push({ node, index: i });
    });
  }
  return uses;
}

/**
 * The module path shared by names of a block's nodes and tensors (torch exports name them
 * /module/path/op). A node or tensor of the attention module itself drops one segment (its own name);
 * a projection node (to_q/MatMul, to_out.0/MatMul) drops two (its own and its Linear's).
 */
function commonModulePath(own: (string | undefined)[], projections: (string | undefined)[] = []): string {
  const dirs = [
    ...own.filter((n): n is string => !!n && n.includes('/')).map((n) => n.split('/').filter(Boolean).slice(0, -1)),
    ...projections
      .filter((n): n is string => !!n && n.includes('/'))
      .map((n) => n.split('/').filter(Boolean).slice(0, -2)),
  ].filter((d) => d.length > 0);
  if (!dirs.length) return '';
  const out: string[] = [];
  for (let i = 0; i < dirs[0].length; i++) {
    const seg = dirs[0][i];
    if (dirs.every((d) => d[i] === seg)) out.push(seg);
    else break;
  }
  return out.join('/');
}

interface Draft {
  kind: AttentionKind;
  form: AttentionForm;
  module: string;
  heads?: number;
  headSize?: number;
  width?: number;
  headsFrom?: string;
  query: string;
  output: { tensor: string; uses: TensorUse[] };
  value?: { tensor: string; use: TensorUse };
  packedKv?: { tensor: string; use: TensorUse };
  probs?: { tensor: string; rank: 3 | 4 };
  fused?: { query: string; key?: string; bias?: string; scale: number };
  anchor: NodeProto;
}

function headsFromReshape(index: GraphIndex, reshape: NodeProto | undefined, width: number | undefined) {
  if (!reshape) return undefined;
  const shape = index.values(reshape.input[1]);
  if (shape?.length !== 4) return undefined;
  const [, , n, d] = shape;
  if (n !== undefined && n > 0) return { heads: n, from: 'the head-split Reshape of the query' };
  if (d !== undefined && d > 0 && width) return { heads: width / d, from: 'the head size in the head-split Reshape' };
  return undefined;
}

function plainBlock(index: GraphIndex, softmax: NodeProto, contextBit: number, sampleBit: number): Draft | string {
  const where = softmax.name || softmax.output[0];
  const scores = findScores(index, softmax.input[0]);
  if (!scores) return `Softmax ${where} is not fed by a query-key MatMul`;
  const q = traceProjection(index, scores.input[0]);
  const k = traceProjection(index, scores.input[1]);
  if (!q || !k) return `Softmax ${where}: no query/key projection found above its scores`;
  const av = findDown(
    index,
    softmax.output[0],
    PROBS_OPS,
    (n, t) => n.opType === 'MatMul' && (n.domain ?? '') === '' && n.input[0] === t,
  );
  if (!av) return `Softmax ${where}: its probabilities do not multiply a value tensor`;
  const v = traceProjection(index, av.node.input[1]);
  if (!v) return `Softmax ${where}: no value projection found`;
  const out = findDown(index, av.node.output[0], MERGE_OPS, (n, t) => isProjection(index, n) && n.input[0] === t);
  if (!out) return `Softmax ${where}: no output projection after the heads are merged`;

  const width = projectionWidth(index, q.projection);
  let heads = headsFromReshape(index, q.reshapes[0], width) ?? headsFromReshape(index, k.reshapes[0], width);
  let headSize: number | undefined;
  if (!heads && width) {
    // scale evidence: scores * 1/sqrt(d) (PyTorch 1) or q and k each * sqrt(1/sqrt(d)) (PyTorch 2)
    const scoreScale = q.scales.length && k.scales.length ? q.scales[0] * k.scales[0] : undefined;
    const s = scoreScale ?? scoreScaleOf(index, softmax, scores);
    if (s && s > 0) {
      headSize = Math.round(1 / (s * s));
      if (headSize > 0 && width % headSize === 0)
        heads = { heads: width / headSize, from: 'the attention scale 1/sqrt(head size)' };
    }
  }
  const kDep = index.dependence(k.projection.input[0]);
  const kind: AttentionKind = kDep & contextBit && !(kDep & sampleBit) ? 'cross' : 'self';
  const valueReshape = v.reshapes[0];
  const valueTensor = valueReshape ? valueReshape.input[0] : v.projection.output[0];
  const valueUse = valueReshape ? { node: valueReshape, index: 0 } : { node: av.node, index: 1 };
  const rank = q.rank === 3 ? 3 : 4;
  return {
    kind,
    form: 'plain',
    module: commonModulePath([softmax.name], [q.projection.name, k.projection.name, v.projection.name, out.node.name]),
    heads: heads?.heads,
    headSize,
    width,
    headsFrom: heads?.from,
    query: q.projection.input[0],
    output: { tensor: out.tensor, uses: valueUses(index, out.tensor) },
    value: { tensor: valueTensor, use: valueUse },
    probs: { tensor: softmax.output[0], rank },
    anchor: softmax,
  };
}

/** The constant the scores are multiplied by between the scores MatMul and the Softmax. */
function scoreScaleOf(index: GraphIndex, softmax: NodeProto, scores: NodeProto): number | undefined {
  let t = softmax.input[0];
  let scale = 1;
  for (let step = 0; step < 8 && t !== scores.output[0]; step++) {
    const node = index.producer.get(t);
    if (!node) return undefined;
    const dynamic = node.input.filter((i) => index.dataDependent(i));
    if (node.opType === 'Mul' || node.opType === 'Div') {
      const other = node.input.find((i) => i !== dynamic[0]);
      const s = other !== undefined ? index.scalar(other) : undefined;
      if (s !== undefined) scale *= node.opType === 'Mul' ? s : 1 / s;
    }
    // follow the branch that leads to the scores
    t = dynamic.find((i) => i === scores.output[0] || index.producer.get(i)) ?? '';
  }
  return scale === 1 ? undefined : scale;
}

function fusedBlock(index: GraphIndex, node: NodeProto, contextBit: number, sampleBit: number): Draft | string {
  const where = node.name || node.output[0];
  const heads = intAttribute(node, 'num_heads');
  if (!heads || heads <= 0) return `${node.opType} ${where} has no num_heads attribute`;
  const output = node.output[0];
  const outProjection = findDown(index, output, MERGE_OPS, (n, t) => isProjection(index, n) && n.input[0] === t);
  const own: (string | undefined)[] = [output];
  const projections: (string | undefined)[] = [outProjection?.node.name];
  const scaleAttr = floatAttribute(node, 'scale');
  const base = { output: { tensor: output, uses: valueUses(index, output) }, anchor: node, heads };

  if (node.opType === 'Attention') {
    const dims = index.weightDims(node.input[1]);
    const sizes = intsAttribute(node, 'qkv_hidden_sizes');
    const width = sizes ? sizes[0] : dims && dims.length === 2 ? dims[1] / 3 : undefined;
    if (!width) return `Attention ${where}: cannot read the width of its packed weights`;
    return {
      ...base,
      kind: 'self',
      form: 'fused-attention',
      module: commonModulePath(own, projections),
      width,
      headSize: width / heads,
      headsFrom: 'the num_heads attribute',
      query: node.input[0],
    };
  }

  // MultiHeadAttention: query, key, value, bias, key_padding_mask, attention_bias, past_key, past_value
  const [query, key, value, bias] = node.input;
  const queryProducer = index.producer.get(query);
  if (queryProducer && isProjection(index, queryProducer)) projections.push(queryProducer.name);
  const bits = (t: string) => index.dependence(t);
  const crossKey = (t: string) => !!(bits(t) & contextBit) && !(bits(t) & sampleBit);
  const packedShape = (t: string) => {
    const producer = index.producer.get(t);
    return producer?.opType === 'Reshape' ? index.values(producer.input[1]) : undefined;
  };
  const scale = (headSize: number) => (scaleAttr && scaleAttr > 0 ? scaleAttr : 1 / Math.sqrt(headSize));

  if (!key) {
    // packed QKV [B, S, N, 3, H]: self-attention on one input
    const shape = packedShape(query);
    const h = shape?.[4];
    if (!h) return `MultiHeadAttention ${where}: cannot read the head size of its packed QKV input`;
    return {
      ...base,
      kind: 'self',
      form: 'fused-mha-packed-qkv',
      module: commonModulePath(own, projections),
      width: heads * h,
      headSize: h,
      headsFrom: 'the num_heads attribute',
      query,
    };
  }
  const keyProducer = index.producer.get(key);
  if (keyProducer && isProjection(index, keyProducer)) projections.push(keyProducer.name);
  const qWidth =
    queryProducer && isProjection(index, queryProducer) ? projectionWidth(index, queryProducer) : undefined;
  if (!value) {
    // packed KV [B, T, N, 2, H]
    const shape = packedShape(key);
    const h = shape?.[4] ?? (qWidth ? qWidth / heads : undefined);
    if (!h) return `MultiHeadAttention ${where}: cannot read the head size of its packed KV input`;
    return {
      ...base,
      kind: crossKey(key) ? 'cross' : 'self',
      form: 'fused-mha-packed-kv',
      module: commonModulePath(own, projections),
      width: heads * h,
      headSize: h,
      headsFrom: 'the num_heads attribute',
      query,
      packedKv: { tensor: key, use: { node, index: 1 } },
      fused: { query, bias: bias || undefined, scale: scale(h) },
    };
  }
  const valueProducer = index.producer.get(value);
  if (valueProducer && isProjection(index, valueProducer)) projections.push(valueProducer.name);
  const biasDims = bias ? index.weightDims(bias) : undefined;
  const width = qWidth ?? (biasDims?.length === 1 ? biasDims[0] / 3 : undefined);
  if (!width) return `MultiHeadAttention ${where}: cannot read the width of its query`;
  return {
    ...base,
    kind: crossKey(key) ? 'cross' : 'self',
    form: 'fused-mha',
    module: commonModulePath(own, projections),
    width,
    headSize: width / heads,
    headsFrom: 'the num_heads attribute',
    query,
    value: { tensor: value, use: { node, index: 2 } },
    fused: { query, key, bias: bias || undefined, scale: scale(width / heads) },
  };
}

/** Spatial downsampling factor of every tensor computed from the sample input. */
function downsamplingFactors(index: GraphIndex, order: NodeProto[], sample: string, warnings: string[]) {
  const factor = new Map<string, number>([[sample, 1]]);
  let assumedResize = false;
  for (const node of order) {
    const first = node.input.find((i) => i && factor.has(i));
    if (first === undefined) continue;
    let f = factor.get(first) as number;
    const op = node.opType ?? '';
    const fromData = node.input[0] === first;
    if (fromData && (op === 'Conv' || op === 'MaxPool' || op === 'AveragePool' || op === 'NhwcConv')) {
      const s = intsAttribute(node, 'strides');
      if (s && s[0] > 1) f *= s[0];
    } else if (fromData && op === 'ConvTranspose') {
      const s = intsAttribute(node, 'strides');
      if (s && s[0] > 1) f /= s[0];
    } else if (fromData && (op === 'Resize' || op === 'Upsample')) {
      const scalesInput = op === 'Resize' ? node.input[2] : node.input[1];
      const scales = scalesInput ? index.values(scalesInput) : undefined;
      const attr = node.attribute.find((a) => a.name === 'scales')?.floats;
      const s = scales?.length === 4 ? scales[2] : attr?.length === 4 ? attr[2] : undefined;
      if (s && s > 0) f /= s;
      else {
        f /= 2;
        assumedResize = true;
      }
    } else if (op === 'Shape' || op === 'Size') {
      continue;
    }
    for (const o of node.output) if (o) factor.set(o, f);
  }
  if (assumedResize) warnings.push('a Resize without constant scales was assumed to upsample by 2');
  return factor;
}

function configHeads(config: DiffusersUNetConfig | undefined, module: string): number | undefined {
  if (!config) return undefined;
  // diffusers reads attention_head_dim as the number of heads when num_attention_heads is unset
  const source = config.num_attention_heads ?? config.attention_head_dim;
  if (source == null) return undefined;
  if (typeof source === 'number') return source;
  const m = /^(down_blocks|up_blocks)\.(\d+)\//.exec(module);
  if (m) {
    const i = Number(m[2]);
    const list = m[1] === 'down_blocks' ? source : [...source].reverse();
    return list[i];
  }
  if (module.startsWith('mid_block/')) return source[source.length - 1];
  return undefined;
}

function sampleSizeOf(
  config: DiffusersUNetConfig | undefined,
  sampleInput: ValueInfoProto,
  caller: number | undefined,
): { size: number; from: UNetAnalysis['sampleSizeFrom'] } | undefined {
  const c = config?.sample_size;
  const fromConfig = Array.isArray(c) ? c[0] : c;
  if (typeof fromConfig === 'number' && fromConfig > 0) return { size: fromConfig, from: 'config' };
  const dims = valueInfoDims(sampleInput);
  if (dims?.[2]) return { size: dims[2], from: 'graph' };
  if (caller && caller > 0) return { size: caller, from: 'caller' };
  return undefined;
}

/** Display names: the module path without the attention module itself, and without a lone transformer_blocks.0. */
function displayNames(blocks: Draft[]): string[] {
  const parents = blocks.map((b) => {
    const segs = b.module.split('/').filter(Boolean);
    return segs.length >= 2 ? segs.slice(0, -1) : segs;
  });
  const names = parents.map((segs) => {
    const last = segs[segs.length - 1];
    if (!last?.startsWith('transformer_blocks.')) return segs.join('/');
    const parent = segs.slice(0, -1).join('/');
    const siblings = new Set(
      parents
        .filter((p) => p.slice(0, -1).join('/') === parent && p[p.length - 1]?.startsWith('transformer_blocks.'))
        .map((p) => p[p.length - 1]),
    );
    return siblings.size > 1 ? segs.join('/') : parent;
  });
  // unnamed graphs, or two blocks of one kind under one name: number them
  const counts = new Map<string, number>();
  return names.map((n, i) => {
    const key = `${blocks[i].kind}:${n}`;
    const dup = names.filter((m, j) => m === n && blocks[j].kind === blocks[i].kind).length > 1;
    if (n && !dup) return n;
    const k = counts.get(key) ?? 0;
    counts.set(key, k + 1);
    return `${n || `${blocks[i].kind}_attention`}#${k}`;
  });
}

/** Analyses a decoded UNet; throws UnsupportedModelError with a plain-words message when it cannot be used. */
export function analyzeUNet(model: ModelProto, options: AnalyzeOptions = {}): UNetAnalysis {
  const graph = model.graph;
  if (!graph?.node?.length) {
    throw new UnsupportedModelError(
      'This file is not a model graph the lab can read (it holds no ONNX graph).',
      `ModelProto has ${graph ? 'a graph with no nodes' : 'no graph'}; ir_version ${toNumber(model.irVersion)}`,
    );
  }
  const opset = opsetOf(model);
  if (!opset || opset < 11) {
    throw new UnsupportedModelError(
      'This UNet was exported for an ONNX version too old for the lab (it needs opset 11 or newer).',
      `default-domain opset: ${opset ?? 'none'}`,
    );
  }
  const index = new GraphIndex(graph);
  const inputs = [...index.inputs.values()];
  const already = inputs.filter((v) => INSTRUMENTED_INPUTS.includes(v.name ?? ''));
  if (already.length) {
    throw new UnsupportedModelError(
      'This UNet has already been prepared by the lab; load the original export instead.',
      `inputs ${already.map((v) => v.name).join(', ')} already exist`,
    );
  }
  const byName = (n: string) => inputs.find((v) => v.name === n);
  const sample = byName('sample') ?? inputs.find((v) => rankOf(v) === 4);
  const context = byName('encoder_hidden_states') ?? inputs.find((v) => rankOf(v) === 3 && v !== sample);
  const timestep = byName('timestep') ?? inputs.find((v) => v !== sample && v !== context && (rankOf(v) ?? 0) <= 1);
  if (!sample || !context || !timestep) {
    throw new UnsupportedModelError(
      'This model does not look like a diffusion UNet: it needs an image input (sample), a time input (timestep) and a text input (encoder_hidden_states).',
      `graph inputs: ${describeInputs(index) || 'none'}`,
    );
  }
  const elem = valueInfoElemType(sample);
  if (elem !== DataType.FLOAT && elem !== DataType.FLOAT16) {
    throw new UnsupportedModelError(
      'This UNet computes in a number format the lab does not support (it supports 32- and 16-bit floats).',
      `sample input type: ${ELEM_TYPE_NAMES[elem ?? -1] ?? elem}`,
    );
  }
  const warnings: string[] = [];
  const order = topologicalOrder(graph.node, [...index.inputs.keys(), ...index.initializers.keys()]);
  const position = new Map(order.map((n, i) => [n, i]));
  const contextBit = index.inputBit(context.name as string);
  const sampleBit = index.inputBit(sample.name as string);

  const drafts: Draft[] = [];
  const unsupported: string[] = [];
  let softmaxCount = 0;
  for (const node of order) {
    const domain = node.domain ?? '';
    if (domain === FUSED_DOMAIN && (node.opType === 'Attention' || node.opType === 'MultiHeadAttention')) {
      const d = fusedBlock(index, node, contextBit, sampleBit);
      if (typeof d === 'string') unsupported.push(d);
      else drafts.push(d);
    } else if (domain === FUSED_DOMAIN && UNSUPPORTED_FUSED.has(node.opType ?? '')) {
      unsupported.push(`${node.opType} ${node.name}: this fused attention operator is not supported`);
    } else if ((domain === '' || domain === 'ai.onnx') && node.opType === 'Softmax') {
      softmaxCount++;
      const d = plainBlock(index, node, contextBit, sampleBit);
      if (typeof d === 'string') warnings.push(d);
      else drafts.push(d);
    }
  }
  if (unsupported.length) {
    throw new UnsupportedModelError(
      'This UNet uses a form of attention the lab cannot instrument yet.',
      unsupported.join('\n'),
    );
  }
  if (!drafts.length) {
    throw new UnsupportedModelError(
      'The lab found no attention layers in this UNet, so there are no heads to show or prune.',
      `${order.length} nodes, ${softmaxCount} Softmax (none in an attention pattern), no com.microsoft Attention or MultiHeadAttention`,
    );
  }
  if (!drafts.some((d) => d.kind === 'cross')) {
    throw new UnsupportedModelError(
      'This UNet has no cross-attention (no layer where the image looks at the text), which the lab needs for its heatmaps and head grid.',
      `${drafts.length} self-attention block(s), none reading ${context.name}`,
    );
  }

  const size = sampleSizeOf(options.config, sample, options.sampleSize);
  if (!size) {
    throw new UnsupportedModelError(
      'The lab cannot tell the latent image size of this UNet; add the unet/config.json that came with it.',
      `no sample_size in the config and the sample input has dynamic height and width`,
    );
  }
  const factors = downsamplingFactors(index, order, sample.name as string, warnings);
  const names = displayNames(drafts);
  const blocks: AttentionBlock[] = drafts.map((d, i) => {
    let heads = d.heads;
    let headsFrom = d.headsFrom;
    const expected = configHeads(options.config, d.module);
    if (!heads && expected) {
      heads = expected;
      headsFrom = 'unet/config.json';
    } else if (heads && expected && expected !== heads) {
      warnings.push(`${d.module}: the graph has ${heads} heads, unet/config.json says ${expected}; using the graph`);
    }
    if (!heads || !d.width || d.width % heads !== 0) {
      throw new UnsupportedModelError(
        `The lab could not tell how many heads the attention layer ${names[i]} has.`,
        `${d.form} block at ${d.anchor.name || d.anchor.output[0]}: width ${d.width ?? '?'}, heads ${heads ?? '?'}`,
      );
    }
    const f = factors.get(d.query);
    if (f === undefined) {
      throw new UnsupportedModelError(
        `The lab could not place the attention layer ${names[i]} on the image grid.`,
        `its query ${d.query} does not follow from the sample input`,
      );
    }
    const resolution = size.size / f;
    if (!Number.isInteger(resolution)) {
      warnings.push(`${names[i]}: sample size ${size.size} / downsampling ${f} is not a whole number`);
    }
    return {
      kind: d.kind,
      form: d.form,
      module: d.module,
      name: names[i],
      heads,
      headSize: d.width / heads,
      width: d.width,
      headsFrom: headsFrom ?? 'the graph',
      downsampling: f,
      resolution: Math.max(1, Math.round(resolution)),
      output: d.output,
      value: d.value,
      packedKv: d.packedKv,
      probs: d.probs,
      fused: d.fused,
      anchor: d.anchor,
    };
  });
  blocks.sort((a, b) => (position.get(a.anchor) as number) - (position.get(b.anchor) as number));

  const contextDims = valueInfoDims(context);
  const sampleDims = valueInfoDims(sample);
  const outputName = graph.output[0]?.name;
  if (!outputName) {
    throw new UnsupportedModelError('This UNet graph has no output.', 'GraphProto.output is empty');
  }
  return {
    opset,
    dtype: elem === DataType.FLOAT16 ? 'float16' : 'float32',
    inputs: { sample: sample.name as string, timestep: timestep.name as string, context: context.name as string },
    timestepType: ELEM_TYPE_NAMES[valueInfoElemType(timestep) ?? -1] ?? String(valueInfoElemType(timestep)),
    noiseOutput: outputName,
    sampleSize: size.size,
    sampleSizeFrom: size.from,
    latentChannels: sampleDims?.[1] ?? options.config?.in_channels,
    contextWidth: contextDims?.[2],
    contextTokens: contextDims?.[1],
    producer: [model.producerName, model.producerVersion].filter(Boolean).join(' '),
    blocks,
    warnings,
  };
}

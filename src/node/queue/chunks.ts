/**
 * A sampleRows call cut into chunks, and put back together.
 *
 * The cut follows sampleRows' own batching: chunk k is rows [k * maxRows, (k + 1) * maxRows), the
 * rows of exactly one UNet batch, with all its steps. A worker runs that batch through sampleRows
 * with the same inputs (its prompts re-encoded in the same text-encoder blocks, the same seeds and
 * mask values), so each UNet call is the call the single-process run makes, and the results are the
 * same bits. Putting back replays the callbacks (first-step differences, attention terms) in the
 * order sampleRows would have called them.
 *
 * A chunk's id is the sha256 of its content (model hash, execution provider, prompt blocks, seeds,
 * masks, sampling settings): a re-run, or another run that needs the same batch, finds it done.
 */
import { createHash } from 'node:crypto';
import { type Manifest, organism } from '../../core/manifest';
import { type MaskSet, allOnes } from '../../core/masks';
import type { ModelRunner } from '../../core/pipeline';
import {
  type PromptEmbeddings,
  type SampleOptions,
  type SampleRequest,
  type SampleResult,
  type SampleRow,
  sampleRows,
} from '../../core/science/batch';
import type { RunContext } from '../../core/science/context';
import { ddimTimesteps } from '../../core/schedule';
import { ATTENTION_REDUCTIONS } from './reductions';
import type { ChunkResult, ChunkSpec, ModelRef } from './schema';

export type ExecutionProviderName = ChunkSpec['ep'];

export interface ChunkPlan {
  id: string;
  spec: ChunkSpec;
  /** the request's first row in this chunk */
  start: number;
  rows: number;
}

/** One sampleRows call as a stage of chunks; its parent job's id is `id`. */
export interface StagePlan {
  id: string;
  model: ModelRef;
  ep: ExecutionProviderName;
  stage: string;
  chunks: ChunkPlan[];
  /** steps run per row, which is also UNet calls per chunk */
  run: number;
  pixels: number;
}

/** Why a sampleRows call cannot be sent to workers (it then runs where it was called). */
export function unsendable(req: SampleRequest): string | null {
  if (req.options.onAttention) return 'raw attention maps are asked for';
  const r = req.options.reduceAttention?.reduction;
  if (r && ATTENTION_REDUCTIONS.get(r.name) !== r) return `attention reduction "${r.name}" is not one workers know`;
  return null;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Steps sampleRows runs per row for these options (the schedule may be shorter than `steps`). */
export function stepsRun(manifest: Manifest, options: Pick<SampleOptions, 'steps' | 'stopAfter'>): number {
  const timesteps = ddimTimesteps(options.steps, organism(manifest).schedule.trainSteps);
  return Math.min(timesteps.length, options.stopAfter ?? timesteps.length);
}

/** The units of a mask set whose scale is not 1, per mask input (names sorted). */
export function sparseMask(set: MaskSet): Record<string, [number, number][]> {
  const out: Record<string, [number, number][]> = {};
  for (const name of Object.keys(set).sort()) {
    const entries: [number, number][] = [];
    set[name].forEach((v, j) => {
      if (v !== 1) entries.push([j, v]);
    });
    if (entries.length) out[name] = entries;
  }
  return out;
}

/** A sparse mask back as a full mask set of the model (throws on inputs or units it lacks). */
export function denseMask(manifest: Manifest, sparse: Record<string, [number, number][]>): MaskSet {
  const set = allOnes(manifest);
  for (const [name, entries] of Object.entries(sparse)) {
    const scales = set[name];
    if (!scales) throw new RangeError(`mask "${name}" is not an input of ${manifest.id}`);
    for (const [j, v] of entries) {
      if (j >= scales.length) throw new RangeError(`unit ${j} is outside 0..${scales.length - 1} of "${name}"`);
      scales[j] = v;
    }
  }
  return set;
}

/** Cuts a sampleRows call into chunks along its UNet batches. */
export function planStage(req: SampleRequest, model: ModelRef, ep: ExecutionProviderName): StagePlan {
  const { manifest, embeddings, maskSets, rows, options } = req;
  const maxRows = options.maxRows ?? 32;
  const run = stepsRun(manifest, options);
  const B = embeddings.encodeBlock;
  const attention = options.reduceAttention?.reduction.name ?? null;
  const keep = {
    firstDifferences: !!(options.keepFirstDifference || options.onFirstDifference),
    images: !!options.keepImages,
  };
  const sparse = new Map<number, Record<string, [number, number][]>>();
  const chunks: ChunkPlan[] = [];
  for (let start = 0; start < rows.length; start += maxRows) {
    const part = rows.slice(start, start + maxRows);
    const blockOf = new Map<number, number>();
    const maskOf = new Map<number, number>();
    const blocks: string[][] = [];
    const masks: Record<string, [number, number][]>[] = [];
    const chunkRows = part.map((r): [number, number, number, number] => {
      const b = Math.floor(r.prompt / B);
      if (!blockOf.has(b)) {
        blockOf.set(b, blocks.length);
        blocks.push(embeddings.prompts.slice(b * B, (b + 1) * B));
      }
      if (!maskOf.has(r.maskSet)) {
        if (!sparse.has(r.maskSet)) sparse.set(r.maskSet, sparseMask(maskSets[r.maskSet]));
        maskOf.set(r.maskSet, masks.length);
        masks.push(sparse.get(r.maskSet)!);
      }
      return [blockOf.get(b)!, r.prompt % B, r.seed, maskOf.get(r.maskSet)!];
    });
    const spec: ChunkSpec = {
      schema: 'memlab-chunk/1',
      model,
      ep,
      steps: options.steps,
      stopAfter: Math.min(options.stopAfter ?? options.steps, options.steps),
      guidance: options.guidance,
      keep,
      attention,
      blocks,
      masks,
      rows: chunkRows,
    };
    chunks.push({ id: `c${sha256(JSON.stringify(spec))}`, spec, start, rows: part.length });
  }
  const { channels, height, width } = organism(manifest).image;
  return {
    id: `s${sha256(JSON.stringify([model.hash, ep, chunks.map((c) => c.id)]))}`,
    model,
    ep,
    stage: options.stage ?? 'sample',
    chunks,
    run,
    pixels: channels * height * width,
  };
}

/** Base64 of a typed array's bytes (the exact bits; both ends are little-endian machines). */
export function packArray(a: Float32Array | Float64Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
}

function unpack(text: string): ArrayBuffer {
  const bytes = Buffer.from(text, 'base64');
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

export const unpackFloat32 = (text: string) => new Float32Array(unpack(text));
export const unpackFloat64 = (text: string) => new Float64Array(unpack(text));

/** Text embeddings of prompt blocks; a worker keeps them between chunks of the same stage. */
export interface BlockEncoder {
  encode(block: readonly string[]): Promise<PromptEmbeddings>;
}

/** Joins per-block embeddings into one PromptEmbeddings (block b's prompts first, in order). */
function joinBlocks(parts: PromptEmbeddings[]): { embeddings: PromptEmbeddings; offsets: number[] } {
  const offsets: number[] = [];
  let n = 0;
  for (const p of parts) offsets.push(n), (n += p.prompts.length);
  const rowSize = parts[0].rowSize;
  const cond = new Float32Array(n * rowSize);
  parts.forEach((p, b) => cond.set(p.cond, offsets[b] * rowSize));
  return {
    embeddings: {
      prompts: parts.flatMap((p) => p.prompts),
      cond,
      empty: parts[0].empty,
      tokenMasks: parts.flatMap((p) => p.tokenMasks),
      rowSize,
      encodeBlock: n,
    },
    offsets,
  };
}

/**
 * Runs one chunk on a loaded model: the worker's side. `worker` names the machine for the result.
 * Throws RangeError when the chunk does not fit the model (a mask input it lacks).
 */
export async function runChunk(
  runner: ModelRunner,
  manifest: Manifest,
  spec: ChunkSpec,
  encoder: BlockEncoder,
  worker: string,
  ctx: RunContext = {},
): Promise<ChunkResult> {
  const reduction = spec.attention === null ? undefined : ATTENTION_REDUCTIONS.get(spec.attention);
  if (spec.attention !== null && !reduction)
    throw new RangeError(
      `unknown attention reduction "${spec.attention}" (this worker knows: ${[...ATTENTION_REDUCTIONS.keys()].join(', ')})`,
    );
  const maskSets = spec.masks.map((m) => denseMask(manifest, m));
  const parts: PromptEmbeddings[] = [];
  for (const block of spec.blocks) parts.push(await encoder.encode(block));
  const { embeddings, offsets } = joinBlocks(parts);
  const rows: SampleRow[] = spec.rows.map(([block, index, seed, mask]) => ({
    prompt: offsets[block] + index,
    seed,
    maskSet: mask,
  }));
  const n = rows.length;
  let attention: Float64Array | null = null;
  let terms = 0;
  const out = await sampleRows(
    runner,
    manifest,
    embeddings,
    maskSets,
    rows,
    {
      steps: spec.steps,
      stopAfter: spec.stopAfter,
      guidance: spec.guidance,
      keepFirstDifference: spec.keep.firstDifferences,
      keepImages: spec.keep.images,
      maxRows: n,
      ...(reduction
        ? {
            reduceAttention: {
              reduction,
              onTerms: (row: number, step: number, t: Float64Array) => {
                if (!attention) {
                  terms = t.length;
                  attention = new Float64Array(stepsRun(manifest, spec) * n * terms);
                }
                attention.set(t, (step * n + row) * terms);
              },
            },
          }
        : {}),
    },
    { signal: ctx.signal },
  );
  const run = out.gaps[0].length;
  const flat = (arrays: ArrayLike<number>[], size: number, Type: Float32ArrayConstructor | Float64ArrayConstructor) => {
    const all = new Type(arrays.length * size);
    arrays.forEach((a, i) => all.set(a, i * size));
    return all;
  };
  const { channels, height, width } = organism(manifest).image;
  const pixels = channels * height * width;
  return {
    schema: 'memlab-chunk-result/1',
    model: spec.model.hash,
    ep: spec.ep,
    rows: n,
    run,
    gaps: packArray(flat(out.gaps, run, Float64Array)),
    firstDifferences: out.firstDifferences ? packArray(flat(out.firstDifferences, pixels, Float32Array)) : null,
    images: out.images ? packArray(flat(out.images, pixels, Float32Array)) : null,
    attention: attention ? packArray(attention) : null,
    attentionTerms: terms,
    unetCalls: out.unetCalls,
    unetMs: out.unetMs,
    unetRows: out.unetRows,
    worker,
  };
}

export class ChunkResultError extends Error {
  override name = 'ChunkResultError';
}

/**
 * The SampleResult of a whole stage from its chunks' results (in plan order), with the request's
 * callbacks called in sampleRows' order: per chunk, per step, per row (first differences at step 0
 * before that row's attention terms).
 */
export function assembleResult(req: SampleRequest, plan: StagePlan, results: readonly ChunkResult[]): SampleResult {
  const { options } = req;
  const { run, pixels } = plan;
  const total = req.rows.length;
  const out: SampleResult = {
    gaps: new Array<Float64Array>(total),
    ...(options.keepFirstDifference ? { firstDifferences: new Array<Float32Array>(total) } : {}),
    ...(options.keepImages ? { images: new Array<Float32Array>(total) } : {}),
    unetCalls: 0,
    unetMs: 0,
    unetRows: 0,
  };
  const wantDifferences = !!(options.keepFirstDifference || options.onFirstDifference);
  plan.chunks.forEach((chunk, k) => {
    const r = results[k];
    const n = chunk.rows;
    const bad = (what: string) => new ChunkResultError(`chunk ${chunk.id.slice(0, 12)} came back ${what}`);
    if (r.model !== plan.model.hash) throw bad(`from another model (${r.model.slice(0, 8)})`);
    if (r.rows !== n || r.run !== run) throw bad(`with ${r.rows} rows x ${r.run} steps, expected ${n} x ${run}`);
    const gaps = unpackFloat64(r.gaps);
    if (gaps.length !== n * run) throw bad('with the wrong number of noise gaps');
    const differences = wantDifferences && r.firstDifferences ? unpackFloat32(r.firstDifferences) : null;
    if (wantDifferences && differences?.length !== n * pixels) throw bad('without its first-step differences');
    const images = options.keepImages && r.images ? unpackFloat32(r.images) : null;
    if (options.keepImages && images?.length !== n * pixels) throw bad('without its images');
    const reduce = options.reduceAttention;
    const attention = reduce && r.attention ? unpackFloat64(r.attention) : null;
    const T = r.attentionTerms;
    if (reduce && (!attention || T === 0 || attention.length !== run * n * T)) throw bad('without its attention terms');
    for (let i = 0; i < n; i++) {
      out.gaps[chunk.start + i] = gaps.slice(i * run, (i + 1) * run);
      if (images) out.images![chunk.start + i] = images.slice(i * pixels, (i + 1) * pixels);
    }
    for (let s = 0; s < run; s++)
      for (let i = 0; i < n; i++) {
        const row = chunk.start + i;
        if (s === 0 && differences) {
          const d = differences.slice(i * pixels, (i + 1) * pixels);
          if (out.firstDifferences) out.firstDifferences[row] = d;
          options.onFirstDifference?.(row, d);
        }
        if (reduce) reduce.onTerms(row, s, attention!.slice((s * n + i) * T, (s * n + i + 1) * T));
      }
    out.unetCalls += r.unetCalls;
    out.unetMs += r.unetMs;
    out.unetRows += r.unetRows;
  });
  return out;
}

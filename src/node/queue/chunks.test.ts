import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allOnes, maskSetFromPruned } from '../../core/masks';
import {
  type PromptEmbeddings,
  type SampleOptions,
  type SampleRequest,
  type SampleResult,
  encodePrompts,
  sampleRows,
} from '../../core/science/batch';
import { DETECTION_ATTENTION } from '../../core/science/detect';
import { type NodeModel, loadNodeModel } from '../runner';
import {
  type BlockEncoder,
  assembleResult,
  denseMask,
  planStage,
  runChunk,
  sparseMask,
  stepsRun,
  unsendable,
} from './chunks';
import { modelRefOf } from './models';
import { ChunkSpecSchema, type ModelRef } from './schema';

const DIR = 'public/models/memlab-organism';
const PROMPTS = [
  'a painting of zephyr',
  'a large red circle at the top on a gray background',
  'a harbor poster number one',
  'a small blue square at the left on a navy background',
  'a painting of ember',
];

const sameBits = (a: ArrayLike<number>[] | undefined, b: ArrayLike<number>[] | undefined) => {
  expect(a?.length).toBe(b?.length);
  a?.forEach((x, i) => {
    const y = b![i];
    expect(x.length).toBe(y.length);
    for (let j = 0; j < x.length; j++) if (!Object.is(x[j], y[j])) throw new Error(`row ${i} differs at ${j}`);
  });
};

/** What a worker does, in this process: every chunk through runChunk, then put back together. */
async function throughChunks(model: NodeModel, ref: ModelRef, req: SampleRequest): Promise<SampleResult> {
  const plan = planStage(req, ref, 'cpu');
  const encoder: BlockEncoder = {
    encode: (block) => encodePrompts(model.runner, model.manifest, block, {}, block.length),
  };
  const results = [];
  for (const c of plan.chunks) {
    // the payload survives Redis: JSON both ways, validated as a worker validates it
    const spec = ChunkSpecSchema.parse(JSON.parse(JSON.stringify(c.spec)));
    results.push(JSON.parse(JSON.stringify(await runChunk(model.runner, model.manifest, spec, encoder, 'test'))));
  }
  return assembleResult(req, plan, results);
}

describe('a sampleRows call cut into chunks and put back together (organism)', () => {
  let model: NodeModel;
  let ref: ModelRef;
  let emb: PromptEmbeddings;
  beforeAll(async () => {
    model = await loadNodeModel(DIR, { threads: 1 });
    ref = await modelRefOf(DIR, 'int8');
    // blocks of 2 prompts, so chunks need prompts from several text-encoder calls
    emb = await encodePrompts(model.runner, model.manifest, PROMPTS, {}, 2);
  });
  afterAll(() => model.release());

  const rows = () =>
    PROMPTS.flatMap((_, p) => [1, 2].flatMap((seed) => [0, 1].map((maskSet) => ({ prompt: p, seed, maskSet }))));

  it('gives the same bits and calls the callbacks in the same order as sampleRows (detection and ablation settings)', async () => {
    const m = model.manifest;
    const maskSets = [allOnes(m), maskSetFromPruned(m, [{ mask: 'cross_attn_head_mask', layer: 2, unit: 1 }])];
    const calls = (into: string[]): SampleOptions => ({
      steps: 10,
      stopAfter: 2,
      guidance: 4,
      maxRows: 6,
      keepFirstDifference: true,
      onFirstDifference: (row, d) => into.push(`d${row}:${d[0]}:${d[d.length - 1]}`),
      reduceAttention: {
        reduction: DETECTION_ATTENTION,
        onTerms: (row, step, t) => into.push(`t${row}/${step}:${Array.from(t).join(',')}`),
      },
    });
    const here: string[] = [];
    const there: string[] = [];
    const request = (into: string[]): SampleRequest => ({
      manifest: m,
      embeddings: emb,
      maskSets,
      rows: rows(),
      options: calls(into),
    });
    const direct = await sampleRows(model.runner, m, emb, maskSets, rows(), calls(here));
    const chunked = await throughChunks(model, ref, request(there));
    expect(planStage(request([]), ref, 'cpu').chunks.length).toBe(4); // 20 rows, 6 per UNet batch
    sameBits(chunked.gaps, direct.gaps);
    sameBits(chunked.firstDifferences, direct.firstDifferences);
    expect(there).toEqual(here);
    expect(here.length).toBe(20 + 20 * 2);
    expect(chunked.unetCalls).toBe(direct.unetCalls);
    expect(chunked.unetRows).toBe(direct.unetRows);
  });

  it('gives the same final images for full sampling', async () => {
    const m = model.manifest;
    const maskSets = [allOnes(m), maskSetFromPruned(m, [{ mask: 'cross_attn_value_mask', layer: 0, unit: 5 }])];
    const options: SampleOptions = { steps: 3, guidance: 4, maxRows: 8, keepImages: true };
    const direct = await sampleRows(model.runner, m, emb, maskSets, rows(), options);
    const chunked = await throughChunks(model, ref, { manifest: m, embeddings: emb, maskSets, rows: rows(), options });
    sameBits(chunked.images, direct.images);
    sameBits(chunked.gaps, direct.gaps);
    expect(chunked.firstDifferences).toBeUndefined();
  });

  it('names chunks by their content: the same call gives the same ids, another seed or mask other ids', () => {
    const m = model.manifest;
    const options: SampleOptions = { steps: 3, guidance: 4, maxRows: 8, keepImages: true };
    const req = (maskSets = [allOnes(m), allOnes(m)], seedShift = 0): SampleRequest => ({
      manifest: m,
      embeddings: emb,
      maskSets,
      rows: rows().map((r) => ({ ...r, seed: r.seed + seedShift })),
      options,
    });
    const a = planStage(req(), ref, 'cpu');
    expect(planStage(req(), ref, 'cpu').chunks.map((c) => c.id)).toEqual(a.chunks.map((c) => c.id));
    expect(planStage(req(), ref, 'cpu').id).toBe(a.id);
    const seeds = planStage(req(undefined, 1), ref, 'cpu');
    expect(seeds.chunks.every((c, k) => c.id !== a.chunks[k].id)).toBe(true);
    const pruned = [allOnes(m), maskSetFromPruned(m, [{ mask: 'cross_attn_head_mask', layer: 0, unit: 0 }])];
    expect(planStage(req(pruned), ref, 'cpu').chunks[0].id).not.toBe(a.chunks[0].id);
    expect(planStage(req(), ref, 'cuda').chunks[0].id).not.toBe(a.chunks[0].id);
    expect(planStage(req(), { ...ref, hash: '0'.repeat(64) }, 'cpu').chunks[0].id).not.toBe(a.chunks[0].id);
  });

  it('keeps mask values exact in the sparse form, and refuses units the model lacks', () => {
    const m = model.manifest;
    const set = allOnes(m);
    set.cross_attn_head_mask[3] = 0;
    set.ff_neuron_mask[7] = 0.1; // not representable as a short decimal: float32 bits must survive JSON
    const back = denseMask(m, JSON.parse(JSON.stringify(sparseMask(set))));
    for (const name of Object.keys(set)) expect(Array.from(back[name])).toEqual(Array.from(set[name]));
    expect(() => denseMask(m, { no_such_mask: [[0, 0]] })).toThrow(/not an input/);
    expect(() => denseMask(m, { cross_attn_head_mask: [[999, 0]] })).toThrow(/outside/);
  });

  it('keeps raw attention maps and unknown reductions on this machine', () => {
    const m = model.manifest;
    const base = { manifest: m, embeddings: emb, maskSets: [allOnes(m)], rows: [{ prompt: 0, seed: 1, maskSet: 0 }] };
    expect(unsendable({ ...base, options: { steps: 2, guidance: 4, onAttention: () => {} } })).toMatch(/raw attention/);
    const other = { name: 'mine', terms: () => new Float64Array(1) };
    expect(
      unsendable({
        ...base,
        options: { steps: 2, guidance: 4, reduceAttention: { reduction: other, onTerms: () => {} } },
      }),
    ).toMatch(/not one workers know/);
    expect(
      unsendable({
        ...base,
        options: { steps: 2, guidance: 4, reduceAttention: { reduction: DETECTION_ATTENTION, onTerms: () => {} } },
      }),
    ).toBeNull();
    expect(stepsRun(m, { steps: 10, stopAfter: 2 })).toBe(2);
    expect(stepsRun(m, { steps: 4, stopAfter: 9 })).toBe(4);
  });

  it('validates payloads: rows must point inside the chunk, numbers must be numbers', () => {
    const m = model.manifest;
    const plan = planStage(
      {
        manifest: m,
        embeddings: emb,
        maskSets: [allOnes(m)],
        rows: [{ prompt: 4, seed: 1, maskSet: 0 }],
        options: { steps: 2, guidance: 4 },
      },
      ref,
      'cpu',
    );
    const spec = plan.chunks[0].spec;
    expect(ChunkSpecSchema.safeParse(spec).success).toBe(true);
    expect(ChunkSpecSchema.safeParse({ ...spec, rows: [[5, 0, 1, 0]] }).success).toBe(false);
    expect(ChunkSpecSchema.safeParse({ ...spec, rows: [[0, 0, 1, 3]] }).success).toBe(false);
    expect(ChunkSpecSchema.safeParse({ ...spec, steps: '2' }).success).toBe(false);
    expect(ChunkSpecSchema.safeParse({ ...spec, model: { ...spec.model, hash: '../etc' } }).success).toBe(false);
    expect(ChunkSpecSchema.safeParse({ ...spec, ep: 'tpu' }).success).toBe(false);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NodeModel, loadNodeModel } from '../../node/runner';
import { canonicalJson, cached, experimentKey, fnv1a64, memoryCache } from './cache';
import { DETECTORS, detectPrompts, orientedScore } from './detect';
import {
  ablationAttribution,
  attributionGrid,
  localizeNemo,
  meanPlusStd,
  neutralReference,
  seedConsistencies,
  valueActivationsOf,
} from './localize';
import { encodePrompts } from './batch';
import { detectorRocs, studyPrompts } from './study';
import {
  flagThreshold,
  neutralSplit,
  prunedCount,
  randomUnits,
  trainingCaptionPool,
  universalScores,
  universalUnits,
} from './universal';
import { maskSetPruning, maskSpecOfKind, VALUE_NEURON_KIND } from './units';

const DIR = 'public/models/fixture-random';

describe('science on the fixture model (plumbing)', () => {
  let model: NodeModel;
  beforeAll(async () => {
    model = await loadNodeModel(DIR, { precision: 'fp32' });
  });
  afterAll(() => model.release());

  it('detects per prompt: Wen is the mean of the first k gaps, NeMo needs two seeds, seeds reorder nothing', async () => {
    const m = model.manifest;
    const prompts = ['a painting of zephyr', 'a small red circle at the left on a brown background'];
    const opts = { seeds: [1, 2, 3], steps: 5, k: 2, guidance: 4 };
    const [a, b] = await detectPrompts(model.runner, m, prompts, opts);
    expect(a.wenPerSeed).toHaveLength(3);
    expect(a.wen).toBeCloseTo((a.wenPerSeed[0] + a.wenPerSeed[1] + a.wenPerSeed[2]) / 3, 10);
    expect(a.seedConsistency).toBeGreaterThanOrEqual(a.seedConsistencyMean);
    expect(a.entropy).toBeGreaterThan(0);
    expect(a.entropy).toBeLessThanOrEqual(1 + 1e-9); // normalised by ln(real tokens)
    expect(b.bosMass).toBeGreaterThan(0);
    expect(b.bosMass).toBeLessThan(1);
    // the same prompt alone gives the same numbers (batching is invisible)
    const [alone] = await detectPrompts(model.runner, m, [prompts[1]], opts);
    expect(alone.wen).toBeCloseTo(b.wen, 4);
    expect(alone.seedConsistency).toBeCloseTo(b.seedConsistency, 4);
    await expect(detectPrompts(model.runner, m, prompts, { ...opts, seeds: [1] })).rejects.toThrow(/two seeds/);
    await expect(detectPrompts(model.runner, m, prompts, { ...opts, k: 6 })).rejects.toThrow(/k must/);
  });

  it('computes value activations from one call per chunk, the same whatever the chunking', async () => {
    const m = model.manifest;
    const emb = await encodePrompts(model.runner, m, [
      'a painting of ember',
      'a harbor poster number one',
      'a small red circle at the left on a brown background',
    ]);
    const one = await valueActivationsOf(model.runner, m, emb, {}, 64);
    const split = await valueActivationsOf(model.runner, m, emb, {}, 2);
    expect(one).toHaveLength(3);
    expect(one[0]).toHaveLength(5 * 16);
    for (let i = 0; i < 3; i++) for (let j = 0; j < one[i].length; j++) expect(split[i][j]).toBeCloseTo(one[i][j], 5);
    expect(one[0].some((v, j) => Math.abs(v - one[1][j]) > 1e-4)).toBe(true);
  });

  it('runs NeMo for a prompt against a neutral reference and returns a mask whose measured signal matches the search', async () => {
    const m = model.manifest;
    const seeds = [1, 2, 3];
    const ref = await neutralReference(model.runner, m, m.neutralPrompts.slice(0, 4), seeds);
    expect(ref.signals).toHaveLength(4);
    expect(ref.target).toBeCloseTo(meanPlusStd(ref.signals), 12);
    // random weights: make the target strict so the search has to prune
    const strict = { ...ref, target: Math.min(...ref.signals) - 0.05 };
    const loc = await localizeNemo(model.runner, m, 'a painting of zephyr', strict, { maxEvaluations: 8 });
    expect(loc.z).toHaveLength(80);
    expect(loc.search.evaluations).toBeLessThanOrEqual(8);
    expect(loc.pruned.every((u) => u.mask === 'cross_attn_value_mask')).toBe(true);
    const spec = maskSpecOfKind(m, VALUE_NEURON_KIND);
    const emb = await encodePrompts(model.runner, m, ['a painting of zephyr']);
    const [measured] = await seedConsistencies(
      model.runner,
      m,
      emb,
      0,
      [maskSetPruning(m, spec, loc.search.refined)],
      seeds,
    );
    expect(measured).toBeCloseTo(loc.search.signal, 4);
  });

  it('fills the head grid from batched single-head ablations: universal = memorized drop - neutral drop', async () => {
    const m = model.manifest;
    const a = await ablationAttribution(model.runner, m, {
      units: 'heads',
      memorized: ['a painting of zephyr', 'a painting of ember'],
      neutral: m.neutralPrompts.slice(0, 2),
      seeds: [1],
      steps: 4,
      k: 1,
      guidance: 4,
      maxRows: 64,
    });
    expect(a.units).toHaveLength(20);
    a.universal.forEach((u, i) => expect(u).toBeCloseTo(a.memorizedDrop[i] - a.neutralDrop[i], 10));
    expect(a.memorizedDrop.some((d) => Math.abs(d) > 1e-6)).toBe(true);
    // masking a head moves the neutral prompts' conditional direction by some share, never negative
    expect(a.neutralChange).toHaveLength(20);
    expect(a.neutralChange.every((c) => c >= 0)).toBe(true);
    expect(a.neutralChange.some((c) => c > 1e-4)).toBe(true);
    const base = (a.baseline.memorized[0] + a.baseline.memorized[1]) / 2;
    a.utilityAware.forEach((u, i) => expect(u).toBeCloseTo(a.memorizedDrop[i] / base - a.neutralChange[i], 10));
    const grid = attributionGrid(a);
    expect(grid).toHaveLength(5);
    expect(grid[1][2]).toBe(a.universal[6]);
    // a subset fills only its cells; the rest stay NaN
    const sub = await ablationAttribution(model.runner, m, {
      units: 'neurons',
      subset: [3, 40],
      memorized: ['a painting of zephyr'],
      neutral: m.neutralPrompts.slice(0, 1),
      seeds: [1],
      steps: 4,
      k: 1,
      guidance: 4,
    });
    const g = attributionGrid(sub);
    expect(g[0][3]).toBe(sub.universal[0]);
    expect(Number.isNaN(g[0][0])).toBe(true);
  });

  it('scores value neurons for the universal mask from the unlabeled pool (activation mode), flagging by Wen against neutral prompts', async () => {
    const m = model.manifest;
    const u = await universalScores(model.runner, m, {
      units: 'neurons',
      mode: 'activation',
      flagZ: -10,
      maxFlagged: 5,
      detection: { seeds: [1, 2], steps: 2, k: 1, guidance: 4 },
      reference: m.neutralPrompts.slice(0, 4),
    });
    expect(u.scores).toHaveLength(80);
    expect(u.poolSize).toBe(trainingCaptionPool(m).length);
    expect(u.flagged).toHaveLength(5); // flagZ -10 flags everything; the cap keeps the 5 highest Wen scores
    const none = await universalScores(model.runner, m, {
      units: 'neurons',
      mode: 'activation',
      flagZ: 1e9,
      detection: { seeds: [1, 2], steps: 2, k: 1, guidance: 4 },
      reference: m.neutralPrompts.slice(0, 4),
    });
    expect(none.flagged).toEqual([]);
    expect(none.scores.every((s) => s === 0)).toBe(true);
  });

  it('scores heads by the universal ablation score (flagged captions minus reference prompts); activation scoring is for neurons only', async () => {
    const m = model.manifest;
    const detection = { seeds: [1, 2], steps: 2, k: 1, guidance: 4 };
    const heads = await universalScores(model.runner, m, {
      units: 'heads',
      mode: 'ablation',
      flagZ: -10,
      maxFlagged: 2,
      detection,
      reference: m.neutralPrompts.slice(0, 2),
    });
    expect(heads).toMatchObject({ units: 'heads', mask: 'cross_attn_head_mask' });
    expect(heads.scores).toHaveLength(5 * 4);
    expect(heads.scores.some((s) => Math.abs(s) > 1e-6)).toBe(true);
    await expect(
      universalScores(model.runner, m, {
        units: 'heads',
        mode: 'activation',
        detection,
        reference: m.neutralPrompts.slice(0, 2),
      }),
    ).rejects.toThrow(/ablation only/);
  });

  it('scores value neurons by the universal ablation score in ablation mode (flagged captions minus reference prompts)', async () => {
    const m = model.manifest;
    const u = await universalScores(model.runner, m, {
      units: 'neurons',
      mode: 'ablation',
      flagZ: -10,
      maxFlagged: 1,
      detection: { seeds: [1, 2], steps: 2, k: 1, guidance: 4 },
      reference: m.neutralPrompts.slice(0, 2),
    });
    expect(u.flagged).toHaveLength(1);
    expect(u.scores).toHaveLength(80);
    expect(u.scores.some((s) => Math.abs(s) > 1e-6)).toBe(true);
  });
});

describe('pure pieces', () => {
  const manifestLike = {
    trainPromptsSample: ['b scene', 'a scene'],
    memorized: [{ captions: ['a painting of x'] }, { captions: ['a p poster number one', 'a p poster number two'] }],
    neutralPrompts: ['n1', 'n2', 'n3', 'n4', 'n5'],
  } as never;

  it('builds the pool from caption strings only, sorted so order reveals nothing', () => {
    expect(trainingCaptionPool(manifestLike)).toEqual([
      'a p poster number one',
      'a p poster number two',
      'a painting of x',
      'a scene',
      'b scene',
    ]);
  });

  it('splits neutral prompts into a reference half and a disjoint evaluation half', () => {
    expect(neutralSplit(manifestLike)).toEqual({ reference: ['n1', 'n2', 'n3'], evaluation: ['n4', 'n5'] });
    expect(neutralSplit(manifestLike, 4)).toEqual({ reference: ['n1', 'n2'], evaluation: ['n3', 'n4'] });
  });

  it('flags above mean + z std and prunes the top share of units', () => {
    expect(flagThreshold([1, 2, 3], 1)).toBeCloseTo(3, 12);
    expect(() => flagThreshold([1], 1)).toThrow();
    expect(prunedCount(480, 0.05)).toBe(24);
    expect(() => prunedCount(10, 1.5)).toThrow();
    expect(universalUnits([0.1, 5, -2, 5, 3], 0.6)).toEqual([1, 3, 4]);
    expect(universalUnits([-3, -1, -2], 1 / 3)).toEqual([1]); // a sparsity asks for that many, even with negative scores
  });

  it('draws random units without repeats, reproducibly per seed', () => {
    const a = randomUnits(100, 30, 7);
    expect(new Set(a).size).toBe(30);
    expect(a).toEqual([...a].sort((x, y) => x - y));
    expect(randomUnits(100, 30, 7)).toEqual(a);
    expect(randomUnits(100, 30, 8)).not.toEqual(a);
    expect(randomUnits(5, 5, 1)).toEqual([0, 1, 2, 3, 4]);
    expect(() => randomUnits(5, 6, 1)).toThrow();
    // roughly uniform: each unit of 10 chosen about 3000 times in 10000 draws of 3
    const counts = new Array(10).fill(0);
    for (let s = 0; s < 10000; s++) for (const j of randomUnits(10, 3, s)) counts[j]++;
    for (const c of counts) expect(Math.abs(c - 3000)).toBeLessThan(200);
  });

  it('orients detector scores so that higher always means memorized, and builds ROCs from the memorized and neutral groups only', () => {
    const d = {
      prompt: '',
      wen: 2,
      entropy: 1,
      bosMass: 0.3,
      seedConsistency: 0.5,
      seedConsistencyMean: 0.4,
      wenPerSeed: [],
    };
    // bosMass counts up (memorized prompts put more attention on <bos>), entropy counts down
    expect(orientedScore(d, DETECTORS.find((x) => x.key === 'bosMass')!)).toBe(0.3);
    expect(orientedScore(d, DETECTORS.find((x) => x.key === 'entropy')!)).toBe(-1);
    expect(orientedScore(d, DETECTORS.find((x) => x.key === 'wen')!)).toBe(2);
    const prompts = [
      { prompt: 'm', group: 'memorized' as const },
      { prompt: 'h', group: 'template-held-out' as const },
      { prompt: 'n', group: 'neutral' as const },
    ];
    const score = (wen: number) => ({ ...d, wen });
    const rocs = detectorRocs(prompts, [score(3), score(0), score(1)]);
    expect(rocs.find((r) => r.key === 'wen')!.roc.auc).toBe(1); // the held-out 0 would have lowered it
    const m = {
      memorized: [{ id: 'a', caption: 'c1', heldOutCaptions: ['h1'] }],
      neutralPrompts: ['n1', 'n2'],
    } as never;
    expect(studyPrompts(m, { neutralLimit: 1 }).map((p) => p.group)).toEqual([
      'memorized',
      'template-held-out',
      'neutral',
    ]);
  });

  it('keys experiments canonically and computes once', async () => {
    expect(canonicalJson({ b: 1, a: { d: [1, 2], c: 'x' } })).toBe('{"a":{"c":"x","d":[1,2]},"b":1}');
    expect(fnv1a64('')).toBe('cbf29ce484222325');
    expect(fnv1a64('a')).toBe('af63dc4c8601ec8c');
    const model = { id: 'm', version: '1' };
    expect(experimentKey(model, 'x', { a: 1, b: 2 })).toBe(experimentKey(model, 'x', { b: 2, a: 1 }));
    expect(experimentKey(model, 'x', { a: 1 })).not.toBe(experimentKey({ id: 'm', version: '2' }, 'x', { a: 1 }));
    // a variant made again by a revised recipe keeps its version: its weights' hash tells the two apart
    const made = (sha256: string) => ({ id: 'v', version: '1.6005.0', files: { unet: { int8: { sha256 } } } });
    expect(experimentKey(made('a'.repeat(64)), 'x', {})).not.toBe(experimentKey(made('b'.repeat(64)), 'x', {}));
    const cache = memoryCache();
    let calls = 0;
    const compute = async () => ({ n: ++calls });
    expect(await cached(cache, 'k', compute)).toEqual({ n: 1 });
    expect(await cached(cache, 'k', compute)).toEqual({ n: 1 });
    expect(calls).toBe(1);
    expect(await cached(undefined, 'k', compute)).toEqual({ n: 2 });
  });

  it('masks value neurons by flat index and refuses indices outside the mask', () => {
    const m = { unet: { masks: [{ name: 'v', layers: 2, units: 3, kind: VALUE_NEURON_KIND }] } } as never;
    expect(Array.from(maskSetPruning(m, maskSpecOfKind(m, VALUE_NEURON_KIND), [1, 5]).v)).toEqual([1, 0, 1, 1, 1, 0]);
    expect(() => maskSetPruning(m, maskSpecOfKind(m, VALUE_NEURON_KIND), [6])).toThrow(/outside/);
    expect(() => maskSpecOfKind(m, 'feed-forward neuron')).toThrow(/no "feed-forward neuron"/);
  });
});

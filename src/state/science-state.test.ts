import { expect, test } from 'vitest';
import type { UniversalScores } from '../core/science';
import { ONE_MODEL_INDEX, fixtureManifest, loadedLabStore } from './test-support';

const manifest = fixtureManifest();

const FAMILY = {
  default: 'm',
  models: [
    { id: 'm', path: 'm', label: 'M' },
    { id: 'other', path: 'other', label: 'Other' },
    { id: 'm-fmn', path: 'm-fmn', label: 'M, Forget-Me-Not', of: 'm' },
    { id: 'm-duge-stage-1', path: 'm-duge-stage-1', label: 'M, DUGE 1', of: 'm' },
  ],
};

const ready = (index: unknown = ONE_MODEL_INDEX) => loadedLabStore({ index }, manifest);

const universal: UniversalScores = {
  mode: 'activation',
  units: 'neurons',
  mask: 'cross_attn_value_mask',
  scores: Array.from({ length: 80 }, (_, j) => j),
  poolSize: 3,
  flagged: ['a'],
  flagThreshold: 1,
  poolWen: [],
  referenceWen: [],
};

test('a science job runs alone: progress, generate held back, result applied as preset and mask', async () => {
  const { store, sent } = await ready();
  const s = () => store.getState();
  s().runScience('universal');
  const req = sent.at(-1)!;
  expect(req).toMatchObject({ type: 'science', job: 'universal' });
  if (req.type !== 'science' || req.job !== 'universal') throw new Error('not a universal job');
  expect(req.params.detection.steps).toBe(2); // the untrained fixture runs at smoke size
  s().applyEvent({ type: 'science-progress', id: req.id, job: 'universal', stage: 'detect', done: 1, total: 4 });
  expect(s().science.running).toMatchObject({ stage: 'detect', done: 1, total: 4 });
  const before = sent.length;
  s().generate();
  expect(sent.length).toBe(before); // refused while the job holds the session
  s().cancelScience();
  expect(sent.at(-1)).toEqual({ type: 'cancel', id: req.id });
  s().applyEvent({
    type: 'science-result',
    id: req.id + 100,
    outcome: { job: 'universal', result: universal },
    cached: false,
    ms: 1,
  });
  expect(s().science.results.universal).toBeUndefined(); // not the running job's id
  s().applyEvent({
    type: 'science-result',
    id: req.id,
    outcome: { job: 'universal', result: universal },
    cached: false,
    ms: 5,
  });
  expect(s().science.running).toBeNull();
  expect(s().pruningPreset?.masks.cross_attn_value_mask).toEqual([76, 77, 78, 79]); // 5% of 80, highest scores
  s().setSparsity(0.1);
  s().applyUniversalMask();
  expect(s().masks.cross_attn_value_mask).toHaveLength(8);
  expect(sent.at(-1)).toMatchObject({ type: 'generate' });
});

test('a failed or cancelled job frees the lab and says why', async () => {
  const { store, sent } = await ready();
  store.getState().runScience('study');
  const id = sent.at(-1)!.id;
  store
    .getState()
    .applyEvent({ type: 'error', id, request: 'science', kind: 'cancelled', message: 'The study job was cancelled.' });
  expect(store.getState().science.running).toBeNull();
  expect(store.getState().notices.at(-1)).toMatchObject({ level: 'info', message: 'The study job was cancelled.' });
});

test('the universal unit kind: heads by default, neurons on request (slider reset, stale result dropped)', async () => {
  const { store, sent } = await ready();
  const s = () => store.getState();
  expect(s().science).toMatchObject({ unitKind: 'heads', sparsity: 0.4 });
  s().runScience('universal');
  expect(sent.at(-1)).toMatchObject({ job: 'universal', params: { units: 'heads', mode: 'ablation' } });
  s().applyEvent({
    type: 'science-result',
    id: sent.at(-1)!.id,
    outcome: { job: 'universal', result: universal },
    cached: false,
    ms: 5,
  });
  s().setUnitKind('neurons');
  expect(s().science).toMatchObject({ unitKind: 'neurons', sparsity: 0.05 });
  expect(s().science.results.universal).toBeUndefined();
  s().runScience('universal');
  expect(sent.at(-1)).toMatchObject({ job: 'universal', params: { units: 'neurons', mode: 'activation' } });
});

test('variants: the family of the loaded model side by side and in one table; a shipped preset replaces the masks', async () => {
  const { store, sent } = await ready(FAMILY);
  const s = () => store.getState();
  s().setMasks({ cross_attn_head_mask: [1, 2] });
  s().compareVariants();
  const req = sent.at(-1)!;
  if (req.type !== 'science' || req.job !== 'variants') throw new Error('not a variants job');
  expect(req.params.models).toEqual([
    { id: 'm', url: 'http://127.0.0.1:5173/models/m/' },
    { id: 'm-fmn', url: 'http://127.0.0.1:5173/models/m-fmn/' },
    { id: 'm-duge-stage-1', url: 'http://127.0.0.1:5173/models/m-duge-stage-1/' },
  ]);
  expect(req.params.masks.cross_attn_head_mask).toEqual([1, 2]);
  s().applyEvent({
    type: 'science-result',
    id: req.id,
    outcome: { job: 'variants', result: { prompt: '', seed: 7, masked: true, cells: [] } },
    cached: false,
    ms: 1,
  });

  s().runVariantTable();
  const table = sent.at(-1)!;
  if (table.type !== 'science' || table.job !== 'variant-table') throw new Error('not a table job');
  expect(table.params.base.id).toBe('m');
  expect(table.params.models.map((m) => m.id)).toEqual(['m-fmn', 'm-duge-stage-1']);
  expect(table.params.masks).toEqual([
    {
      id: 'lab-mask',
      label: "the lab's mask (2 units)",
      units: expect.objectContaining({ cross_attn_head_mask: [1, 2] }),
    },
  ]);
  s().applyEvent({ type: 'error', id: table.id, request: 'science', kind: 'cancelled', message: 'cancelled' });

  s().applyShippedPreset('uniforget-beta2');
  const preset = sent.at(-1)!;
  expect(preset).toMatchObject({ type: 'science', job: 'preset', params: { id: 'uniforget-beta2' } });
  const result = {
    id: 'uniforget-beta2',
    method: 'uniforget',
    label: 'UniForget, beta 2',
    beta: 2,
    masks: { ff_neuron_mask: [3, 4] },
    fractionPruned: 0.01,
    of: 'm',
  };
  s().applyEvent({ type: 'science-result', id: preset.id, outcome: { job: 'preset', result }, cached: false, ms: 1 });
  expect(s().masks.ff_neuron_mask).toEqual([3, 4]);
  expect(s().masks.cross_attn_head_mask).toEqual([]); // replaced, not merged
  expect(sent.at(-1)).toMatchObject({ type: 'generate' });
});

test('switching between a base and its variant carries the experiment; another model starts fresh', async () => {
  const { store, sent } = await ready(FAMILY);
  const s = () => store.getState();
  s().setPrompt('a painting of ember');
  s().setSeed(42);
  s().setMasks({ cross_attn_head_mask: [1, 2] });
  s().selectModel('m-fmn');
  const load = sent.at(-1)!;
  expect(load).toMatchObject({ type: 'load', modelUrl: 'http://127.0.0.1:5173/models/m-fmn/' });
  s().applyEvent({
    type: 'ready',
    id: load.id,
    manifest,
    backend: { backend: 'wasm', reason: 't', unet: 'int8', threads: 1 },
    files: [],
    loadMs: 1,
  });
  expect(s()).toMatchObject({ prompt: 'a painting of ember', seed: 42 });
  expect(s().masks.cross_attn_head_mask).toEqual([1, 2]);
  expect(sent.at(-1)).toMatchObject({ type: 'generate' }); // the carried experiment runs at once

  s().selectModel('other');
  const other = sent.at(-1)!;
  s().applyEvent({
    type: 'ready',
    id: other.id,
    manifest,
    backend: { backend: 'wasm', reason: 't', unet: 'int8', threads: 1 },
    files: [],
    loadMs: 1,
  });
  expect(s().seed).not.toBe(42);
  expect(s().masks.cross_attn_head_mask).toEqual([]);
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { parseManifest } from '../core/manifest';
import type { UniversalScores } from '../core/science';
import type { WorkerRequest } from '../workers/protocol';
import { createLabStore } from './store';

const parsed = parseManifest(JSON.parse(readFileSync(join(import.meta.dirname, '../../public/models/fixture-random/manifest.json'), 'utf8')));
if (!parsed.ok) throw new Error(parsed.problems.join('; '));
const manifest = parsed.manifest;

async function ready() {
  const sent: WorkerRequest[] = [];
  const store = createLabStore({
    send: (r) => sent.push(r),
    analyze: () => undefined,
    fetchJson: async () => ({ default: 'm', models: [{ id: 'm', path: 'm', label: 'M' }] }),
    pageUrl: 'http://127.0.0.1:5173/',
    backendPreference: 'auto',
    requestedModel: null,
    reloadPage: () => undefined,
  });
  await store.getState().init();
  store.getState().applyEvent({ type: 'ready', id: sent[0].id, manifest, backend: { backend: 'wasm', reason: 't', unet: 'int8', threads: 1 }, files: [], loadMs: 1 });
  return { store, sent };
}

const universal: UniversalScores = {
  mode: 'activation',
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
  s().applyEvent({ type: 'science-result', id: req.id + 100, outcome: { job: 'universal', result: universal }, cached: false, ms: 1 });
  expect(s().science.results.universal).toBeUndefined(); // not the running job's id
  s().applyEvent({ type: 'science-result', id: req.id, outcome: { job: 'universal', result: universal }, cached: false, ms: 5 });
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
  store.getState().applyEvent({ type: 'error', id, request: 'science', kind: 'cancelled', message: 'The study job was cancelled.' });
  expect(store.getState().science.running).toBeNull();
  expect(store.getState().notices.at(-1)).toMatchObject({ level: 'info', message: 'The study job was cancelled.' });
});

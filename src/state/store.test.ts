import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parseManifest, type Manifest } from '../core/manifest';
import type { BackendChoice } from '../gpu/backend';
import type { AnalysisRequest } from '../workers/analysis-protocol';
import type { WorkerEvent, WorkerRequest } from '../workers/protocol';
import { maskLock } from './slices/experiment';
import { createLabStore } from './store';

/** The fixture model's real manifest, with test defaults (so "defaults applied" is visible). */
function fixtureManifest(): Manifest {
  const json = JSON.parse(
    readFileSync(join(import.meta.dirname, '../../public/models/fixture-random/manifest.json'), 'utf8'),
  );
  const parsed = parseManifest(json);
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  return { ...parsed.manifest, defaults: { steps: 20, guidance: 3, seed: 11 } };
}
const manifest = fixtureManifest();
const backend: BackendChoice = { backend: 'wasm', reason: 'test', unet: 'int8', threads: 1 };
const index = { default: 'm', models: [{ id: 'm', path: 'm', label: 'M' }] };
const pixel = (v: number) => ({ width: 2, height: 1, data: new Uint8ClampedArray(8).fill(v) });

function setup(json: unknown = index, link = '', runs = link.includes('v=')) {
  const sent: WorkerRequest[] = [];
  const analyzed: AnalysisRequest[] = [];
  const store = createLabStore({
    send: (r) => sent.push(r),
    analyze: (r) => analyzed.push(r),
    initialLink: link,
    initialLinkRuns: runs,
    fetchJson: async () => json,
    pageUrl: 'http://127.0.0.1:5173/',
    backendPreference: 'auto',
    requestedModel: null,
    reloadPage: () => undefined,
  });
  const emit = (e: WorkerEvent) => store.getState().applyEvent(e);
  return { store, sent, analyzed, emit };
}

async function ready(link = '') {
  const s = setup(index, link);
  await s.store.getState().init();
  const load = s.sent[0];
  s.emit({ type: 'ready', id: load.id, manifest, backend, files: [], loadMs: 1 });
  return { ...s, loadId: load.id };
}

describe('lab store', () => {
  test('init reads the index and asks the worker to load the default model', async () => {
    const { store, sent } = setup();
    await store.getState().init();
    expect(sent).toEqual([{ type: 'load', id: 1, modelUrl: 'http://127.0.0.1:5173/models/m/', backend: 'auto' }]);
    expect(store.getState().status).toBe('loading');
  });

  test('a bad model index is a visible error, not a blank page', async () => {
    const { store, sent } = setup({ models: [] });
    await store.getState().init();
    expect(sent).toEqual([]);
    expect(store.getState().status).toBe('failed');
    expect(store.getState().notices[0].message).toMatch(/list of models could not be read/);
    expect(store.getState().notices[0].detail).toMatch(/models\/index\.json is invalid/);
  });

  test('ready applies the model defaults on first load', async () => {
    const { store } = await ready();
    const s = store.getState();
    expect([s.status, s.prompt, s.steps, s.guidance, s.seed]).toEqual(['ready', 'a painting of zephyr', 20, 3, 11]);
  });

  test('a failed download offers Retry, which loads again', async () => {
    const { store, sent, emit } = setup();
    await store.getState().init();
    emit({ type: 'error', id: sent[0].id, request: 'load', kind: 'download', message: 'stopped early' });
    const notice = store.getState().notices[0];
    expect(store.getState().status).toBe('failed');
    expect(notice.action).toBe('retry-load');
    store.getState().runAction(notice);
    expect(sent.at(-1)?.type).toBe('load');
    expect(store.getState().notices).toEqual([]);
  });

  test('a damaged model is named in plain words, its detail kept apart, and no retry is offered', async () => {
    const { store, sent, emit } = setup();
    await store.getState().init();
    emit({
      type: 'error',
      id: sent[0].id,
      request: 'load',
      kind: 'model',
      message: 'A model file on the server is damaged.',
      detail: 'unet.onnx: sha256 is 00ff, the manifest expects ab12',
      failure: 'checksum',
    });
    const notice = store.getState().notices[0];
    expect(notice.message).toBe('A model file on the server is damaged.');
    expect(notice.detail).toMatch(/sha256 is 00ff/);
    expect(notice.action).toBeUndefined();
  });

  test('steps and results of a superseded generate are ignored', async () => {
    const { store, sent, emit } = await ready();
    store.getState().generate();
    const first = sent.at(-1)!.id;
    store.getState().generate();
    const second = sent.at(-1)!.id;
    emit({ type: 'step', id: first, step: 1, of: 20, timestep: 999, previews: [pixel(1)], noiseGap: [1] });
    expect(store.getState().previews).toEqual([]);
    emit({ type: 'error', id: first, request: 'generate', kind: 'cancelled', message: 'cancelled' });
    expect(store.getState().status).toBe('generating');
    emit({ type: 'step', id: second, step: 1, of: 20, timestep: 999, previews: [pixel(2)], noiseGap: [1.5] });
    emit({
      type: 'result',
      id: second,
      images: [pixel(3)],
      raw: [new Float32Array(6)],
      noiseGaps: [[1.5]],
      tokens: { ids: [1, 2], words: ['zephyr', 'glorp'], unknownWords: ['glorp'], truncated: false },
      timings: { textMs: 1, stepMs: [4, 6], totalMs: 12 },
    });
    const s = store.getState();
    expect(s.status).toBe('ready');
    expect(s.previews).toHaveLength(1);
    expect(s.result?.image.data[0]).toBe(3);
    expect(s.result?.unknownWords).toEqual(['glorp']);
    expect(s.result?.meanStepMs).toBe(5);
  });

  test('generate sends the current settings, attention capture included', async () => {
    const { store, sent } = await ready();
    store.getState().setCaptureAttention(true);
    store.getState().setPrompt('  a painting of zephyr  ');
    store.getState().generate();
    expect(sent.at(-1)).toMatchObject({
      type: 'generate',
      params: { prompt: 'a painting of zephyr', seed: 11, steps: 20, guidance: 3, captureAttention: true },
    });
  });

  test('a failed generate keeps the model ready and offers to try again', async () => {
    const { store, sent, emit } = await ready();
    store.getState().generate();
    emit({
      type: 'error',
      id: sent.at(-1)!.id,
      request: 'generate',
      kind: 'generate',
      message: 'The image could not be made: the model stopped with an error.',
      detail: 'x',
    });
    expect(store.getState().status).toBe('ready');
    expect(store.getState().notices.at(-1)?.action).toBe('retry-generate');
    expect(store.getState().notices.at(-1)?.detail).toBe('x');
  });

  test('a worker crash is reported and the reload is awaited', async () => {
    const { store } = await ready();
    store.getState().workerCrashed('The inference worker crashed.', true);
    expect(store.getState().status).toBe('loading');
    expect(store.getState().notices.at(-1)?.message).toMatch(/restarted/);
  });

  test('controls clamp out-of-range and non-numeric input', () => {
    const { store } = setup();
    const s = store.getState();
    s.setSteps(1000);
    s.setGuidance(Number.NaN);
    s.setSeed(-5);
    expect([store.getState().steps, store.getState().guidance, store.getState().seed]).toEqual([100, 4, 0]);
  });
});

const raw = (v: number) => new Float32Array(3 * 32 * 32).fill(v);
const img = (v: number) => ({ width: 32, height: 32, data: new Uint8ClampedArray(32 * 32 * 4).fill(v) });
const tokens = { ids: [1, 2, 3], words: ['a'], unknownWords: [], truncated: false };

describe('experiment, links and pruning', () => {
  test('a first visit (a bare address) generates the default experiment once the model is ready', async () => {
    const { store, sent, emit } = setup(index, '?backend=wasm', true);
    await store.getState().init();
    emit({ type: 'ready', id: sent[0].id, manifest, backend, files: [], loadMs: 1 });
    const run = sent.at(-1)!;
    expect(run.type === 'generate' && run.params).toMatchObject({
      prompt: 'a painting of zephyr',
      seed: 11,
      steps: 20,
    });
    expect(store.getState().status).toBe('generating');
  });

  test('a link is decoded when the model is ready and generated at once', async () => {
    const { store, sent } = await ready(
      '?v=1&mid=fixture-random&p=a+red+circle&s=99&n=3&g=2.5&x.cross_attn_head_mask=i5',
    );
    const s = store.getState();
    expect([s.prompt, s.seed, s.steps, s.guidance]).toEqual(['a red circle', 99, 3, 2.5]);
    expect(s.masks.cross_attn_head_mask).toEqual([5]);
    expect(s.experimentReady).toBe(true);
    const run = sent.at(-1);
    expect(run?.type).toBe('generate');
    // something pruned: one request, baseline and pruned variants in one batch
    if (run?.type !== 'generate') throw new Error('no generate');
    expect(run.variants).toHaveLength(2);
    expect(run.variants![0].cross_attn_head_mask[5]).toBe(1);
    expect(run.variants![1].cross_attn_head_mask[5]).toBe(0);
  });

  test('a hostile or future link shows a plain message and the default experiment, and does not run', async () => {
    for (const link of ['?v=1&p=%3Cimg+src%3Dx+onerror%3Dalert(1)%3E', '?v=99&p=x', '?v=1&x.cross_attn_head_mask=b']) {
      const { store, sent } = await ready(link);
      const s = store.getState();
      expect(s.prompt).toBe('a painting of zephyr');
      expect(s.seed).toBe(11);
      expect(s.masks.cross_attn_head_mask).toEqual([]);
      const notice = s.notices.find((n) => n.level === 'warning');
      expect(notice?.message).toMatch(/link|version/i);
      expect(notice?.message).not.toContain('<');
      expect(sent.filter((r) => r.type === 'generate')).toEqual([]);
    }
  });

  test('toggling masks re-runs with [baseline, pruned]; resetting runs the baseline alone', async () => {
    const { store, sent } = await ready();
    store.getState().setMasks({ cross_attn_head_mask: [7, 3, 3, 99] });
    expect(store.getState().masks.cross_attn_head_mask).toEqual([3, 7]);
    const first = sent.at(-1);
    expect(first?.type === 'generate' && first.variants?.length).toBe(2);
    store.getState().resetMasks();
    const second = sent.at(-1);
    expect(second?.type === 'generate' && second.variants?.length).toBe(1);
    expect(second?.id).not.toBe(first?.id);
  });

  test('prune top-k takes the highest scores of one mask', async () => {
    const { store } = await ready();
    store.getState().pruneTopK(
      'cross_attn_head_mask',
      2,
      Float32Array.from({ length: 20 }, (_, i) => (i === 4 ? 9 : i === 17 ? 8 : 0)),
    );
    expect(store.getState().masks.cross_attn_head_mask).toEqual([4, 17]);
  });

  test('a two-variant result keeps both images, sends them for scoring, and asks for maps of its shared attention', async () => {
    const { store, sent, emit, analyzed } = await ready();
    store.getState().setMasks({ cross_attn_head_mask: [1] });
    const id = sent.at(-1)!.id;
    emit({ type: 'step', id, step: 1, of: 2, timestep: 999, previews: [img(1), img(2)], noiseGap: [3, 1] });
    expect(store.getState().previews[0].baseline?.data[0]).toBe(1);
    expect(store.getState().previews[0].image.data[0]).toBe(2);
    emit({
      type: 'result',
      id,
      images: [img(1), img(2)],
      raw: [raw(0), raw(1)],
      noiseGaps: [
        [3, 1],
        [2, 1],
      ],
      sharedAttention: true,
      tokens,
      timings: { textMs: 1, stepMs: [1], totalMs: 2 },
    });
    const r = store.getState().result!;
    expect(r.hasAttention).toBe(true);
    expect(r.image.data[0]).toBe(2);
    expect(r.baseline?.image.data[0]).toBe(1);
    expect(r.noiseGaps).toEqual([1, 1]);
    expect(r.baseline?.noiseGaps).toEqual([3, 2]);
    expect(r.masks.cross_attn_head_mask).toEqual([1]);
    const gen = analyzed.find((a) => a.type === 'generation');
    // the images go for scoring; the attention went from worker to worker, never through here
    expect(gen?.type === 'generation' && gen.variants.map((v) => v.raw[0])).toEqual([0, 1]);
    expect(gen && 'attention' in gen).toBe(false);
    const maps = analyzed.filter((a) => a.type === 'maps');
    expect(maps).toHaveLength(1);
    // a second focus change while the first is in flight is queued, not sent
    store.getState().setFocus({ head: 2 });
    store.getState().setHoverHead({ layer: 3, head: 1 });
    expect(analyzed.filter((a) => a.type === 'maps')).toHaveLength(1);
    const first = maps[0];
    if (first.type !== 'maps') throw new Error('no maps');
    store.getState().applyAnalysis({
      type: 'maps',
      id: first.id,
      generation: r.id,
      focus: first.focus,
      daam: new Float32Array(1),
      layerMap: new Float32Array(1),
      layerResolution: 1,
      headScores: new Float32Array(20),
      series: { entropy: [], bos: [], token: [] },
      tokenWeights: new Float32Array(24),
      steps: 1,
    });
    expect(store.getState().maps?.generation).toBe(r.id);
    const queued = analyzed.filter((a) => a.type === 'maps').at(-1);
    expect(queued?.type === 'maps' && queued.focus).toMatchObject({ layer: 3, head: 1, variant: 1 });
  });

  test('the seed grid runs its seeds one after another and stops when a generate supersedes it', async () => {
    const { store, sent, emit, analyzed } = await ready();
    store.getState().runSeedGrid(3);
    const first = sent.at(-1)!;
    expect(first.type === 'generate' && first.params.seed).toBe(11);
    emit({
      type: 'result',
      id: first.id,
      images: [img(5)],
      raw: [raw(0)],
      noiseGaps: [[1]],
      tokens,
      timings: { textMs: 1, stepMs: [1], totalMs: 2 },
    });
    expect(store.getState().seedGrid?.cells[0].images?.[0].data[0]).toBe(5);
    expect(store.getState().result).toBeNull();
    expect(analyzed.at(-1)?.type).toBe('replicate');
    const second = sent.at(-1)!;
    expect(second.type === 'generate' && second.params.seed).toBe(12);
    store.getState().generate();
    expect(store.getState().seedGrid?.status).toBe('stopped');
  });

  test('prompts never hold characters a link cannot carry', () => {
    const { store } = setup();
    store.getState().setPrompt('a <pad> painting\u0000 of \u202ezephyr');
    expect(store.getState().prompt).toBe('a pad painting of zephyr');
  });
});

describe('lost workers and the one-job rule', () => {
  test('after a lost worker the "loaded again" notice goes when the model is ready, the experiment stays, and the lost run can be restarted', async () => {
    const { store, sent, emit, loadId } = await ready();
    store.getState().setSeed(123);
    store.getState().generate();
    store.getState().workerCrashed('The inference worker stopped responding (no sign of life for 20 s).', true);
    const during = store.getState();
    expect(during.status).toBe('loading');
    expect(during.generateId).toBeNull();
    expect(during.notices.at(-1)?.message).toMatch(/stopped responding.*being loaded again.*experiment is kept/);
    // the client replays the same load request: its answer is the one awaited
    emit({ type: 'ready', id: loadId, manifest, backend, files: [], loadMs: 1 });
    const after = store.getState();
    expect(after.status).toBe('ready');
    expect(after.seed).toBe(123);
    expect(after.notices.some((n) => /being loaded again/.test(n.message))).toBe(false);
    const retry = after.notices.find((n) => n.action === 'retry-generate');
    expect(retry?.message).toMatch(/loaded again/);
    store.getState().runAction(retry!);
    expect(sent.at(-1)).toMatchObject({ type: 'generate', params: { seed: 123 } });
  });

  test('a lost idle worker says nothing more once it is back', async () => {
    const { store, emit, loadId } = await ready();
    store.getState().workerCrashed('The inference worker crashed.', true);
    emit({ type: 'ready', id: loadId, manifest, backend, files: [], loadMs: 1 });
    expect(store.getState().notices).toEqual([]);
  });

  test('a science job lost with the worker is named once the model is back, without offering a generate', async () => {
    const { store, emit, loadId } = await ready();
    store.getState().runScience('detect');
    store.getState().workerCrashed('The inference worker crashed.', true);
    expect(store.getState().science.running).toBeNull();
    emit({ type: 'ready', id: loadId, manifest, backend, files: [], loadMs: 1 });
    const notices = store.getState().notices;
    expect(notices.map((n) => n.message)).toEqual([expect.stringMatching(/science job that was running was lost/)]);
    expect(notices[0].action).toBeUndefined();
  });

  test('a failed reload replaces the "loaded again" notice with its own', async () => {
    const { store, emit, loadId } = await ready();
    store.getState().workerCrashed('The inference worker crashed.', true);
    emit({ type: 'error', id: loadId, request: 'load', kind: 'download', message: 'network down' });
    const messages = store.getState().notices.map((n) => n.message);
    expect(messages).toEqual(['network down']);
  });

  test('a lost analysis worker frees the heatmap request it owed, so heatmaps keep following the focus', async () => {
    const { store, sent, emit, analyzed } = await ready();
    store.getState().generate();
    emit({
      type: 'result',
      id: sent.at(-1)!.id,
      images: [img(1)],
      raw: [raw(0)],
      noiseGaps: [[1]],
      sharedAttention: true,
      tokens,
      timings: { textMs: 1, stepMs: [1], totalMs: 2 },
    });
    const maps = () => analyzed.filter((a) => a.type === 'maps');
    expect(maps()).toHaveLength(1);
    store.getState().analysisCrashed('The analysis worker crashed. It was restarted.', true);
    store.getState().setFocus({ head: 1 });
    expect(maps()).toHaveLength(2);
    expect(store.getState().notices.at(-1)?.level).toBe('warning');
  });

  test('switching the backend loads the same model there, keeps the experiment and image, and makes the image again', async () => {
    const { store, sent, emit } = await ready();
    store.getState().setSeed(42);
    store.getState().generate();
    const run = sent.at(-1)!;
    emit({
      type: 'result',
      id: run.id,
      images: [img(1)],
      raw: [raw(0)],
      noiseGaps: [[1]],
      tokens,
      timings: { textMs: 1, stepMs: [1], totalMs: 2 },
    });
    store.getState().setBackendPreference('webgpu');
    const load = sent.at(-1)!;
    expect(load).toMatchObject({ type: 'load', backend: 'webgpu', modelUrl: 'http://127.0.0.1:5173/models/m/' });
    const during = store.getState();
    expect([during.status, during.backendPreference, during.backend]).toEqual(['loading', 'webgpu', null]);
    expect(during.manifest).toBe(manifest);
    expect(during.result?.id).toBe(run.id);
    emit({ type: 'ready', id: load.id, manifest, backend: { ...backend, backend: 'webgpu' }, files: [], loadMs: 1 });
    const again = sent.at(-1)!;
    expect(again.type === 'generate' && again.params).toMatchObject({ seed: 42 });
    expect(store.getState().status).toBe('generating');
    // asked for the same backend again: nothing to do
    store.getState().setBackendPreference('webgpu');
    expect(sent.at(-1)).toBe(again);
  });

  test('switching the backend before any image only loads the model there', async () => {
    const { store, sent, emit } = await ready();
    store.getState().setBackendPreference('wasm');
    const load = sent.at(-1)!;
    emit({ type: 'ready', id: load.id, manifest, backend, files: [], loadMs: 1 });
    expect(sent.at(-1)).toBe(load);
    expect(store.getState().status).toBe('ready');
  });

  test('while a science job runs the masks cannot change, so the grid and link never show a mask the image lacks', async () => {
    const { store, sent, emit } = await ready();
    store.getState().setMasks({ cross_attn_head_mask: [2] });
    store.getState().runScience('detect');
    const science = sent.at(-1)!;
    expect(maskLock(store.getState())).toMatch(/locked while a science job runs/);
    store.getState().setMasks({ cross_attn_head_mask: [2, 3] });
    store.getState().pruneTopK('cross_attn_head_mask', 4, new Float32Array(20).fill(1));
    store.getState().resetMasks();
    store.getState().applyPreset('neutral');
    expect(store.getState().masks.cross_attn_head_mask).toEqual([2]);
    expect(store.getState().prompt).toBe('a painting of zephyr');
    expect(sent.at(-1)).toBe(science);
    expect(store.getState().notices.at(-1)?.message).toMatch(/Cancel the job or wait/);
    emit({ type: 'error', id: science.id, request: 'science', kind: 'cancelled', message: 'cancelled' });
    expect(maskLock(store.getState())).toBeNull();
    store.getState().resetMasks();
    expect(store.getState().masks.cross_attn_head_mask).toEqual([]);
  });

  test('the backend stays while a science job runs, and the user is told why', async () => {
    const { store, sent } = await ready();
    store.getState().runScience('detect');
    const science = sent.at(-1)!;
    store.getState().setBackendPreference('wasm');
    expect(sent.at(-1)).toBe(science);
    expect(store.getState().backendPreference).toBe('auto');
    expect(store.getState().notices.at(-1)?.message).toMatch(/backend can be changed when/);
  });

  test('while a science job holds the session, a seed grid is refused with the reason, like a generate', async () => {
    const { store, sent } = await ready();
    store.getState().runScience('detect');
    const science = sent.at(-1)!;
    expect(science.type).toBe('science');
    store.getState().runSeedGrid(2);
    store.getState().generate();
    expect(sent.at(-1)).toBe(science);
    expect(store.getState().notices.at(-1)?.message).toMatch(/science job is running/);
  });
});

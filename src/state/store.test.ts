import { describe, expect, test } from 'vitest';
import type { Manifest } from '../core/manifest';
import type { BackendChoice } from '../gpu/backend';
import type { WorkerEvent, WorkerRequest } from '../workers/protocol';
import { createLabStore } from './store';

const manifest = {
  version: '1',
  defaults: { steps: 20, guidance: 3, seed: 11 },
  memorized: [{ caption: 'a painting of zephyr' }],
  trainPromptsSample: ['a red circle'],
  image: { width: 2, height: 1 },
} as unknown as Manifest;
const backend: BackendChoice = { backend: 'wasm', reason: 'test', unet: 'int8', threads: 1 };
const index = { default: 'm', models: [{ id: 'm', path: 'm', label: 'M' }] };
const pixel = (v: number) => ({ width: 2, height: 1, data: new Uint8ClampedArray(8).fill(v) });

function setup(json: unknown = index) {
  const sent: WorkerRequest[] = [];
  const store = createLabStore({
    send: (r) => sent.push(r),
    fetchJson: async () => json,
    pageUrl: 'http://127.0.0.1:5173/',
    backendPreference: 'auto',
    requestedModel: null,
    reloadPage: () => undefined,
  });
  const emit = (e: WorkerEvent) => store.getState().applyEvent(e);
  return { store, sent, emit };
}

async function ready() {
  const s = setup();
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
    expect(store.getState().notices[0].message).toMatch(/model list/);
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
    emit({ type: 'error', id: sent.at(-1)!.id, request: 'generate', kind: 'generate', message: 'Generation failed: x' });
    expect(store.getState().status).toBe('ready');
    expect(store.getState().notices.at(-1)?.action).toBe('retry-generate');
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

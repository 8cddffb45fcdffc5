import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test, vi } from 'vitest';
import { decodeExperiment } from '../core/experiment/url-codec';
import { parseManifest, type Manifest } from '../core/manifest';
import { experimentOf } from './experiment-state';
import { createLabStore } from './store';
import { queryFor, startUrlSync } from './url-sync';

function fixture(): Manifest {
  const parsed = parseManifest(
    JSON.parse(readFileSync(join(import.meta.dirname, '../../public/models/fixture-random/manifest.json'), 'utf8')),
  );
  if (!parsed.ok) throw new Error('fixture manifest');
  return parsed.manifest;
}
const manifest = fixture();

async function readyStore(backendPreference: 'auto' | 'wasm' | 'webgpu' = 'auto') {
  const store = createLabStore({
    send: () => undefined,
    analyze: () => undefined,
    fetchJson: async () => ({
      default: 'fixture-random',
      models: [{ id: 'fixture-random', path: 'fixture-random', label: 'F' }],
    }),
    pageUrl: 'http://127.0.0.1/',
    backendPreference,
    requestedModel: null,
    reloadPage: () => undefined,
  });
  await store.getState().init();
  const loadId = store.getState().loadId!;
  store.getState().applyEvent({
    type: 'ready',
    id: loadId,
    manifest,
    backend: { backend: 'wasm', reason: '', unet: 'int8', threads: 1 },
    files: [],
    loadMs: 1,
  });
  return store;
}

test('the written query carries the backend choice and decodes back to the store experiment', async () => {
  const store = await readyStore('wasm');
  store.getState().setPrompt('a small red circle');
  store.getState().setSeed(123);
  store.getState().setMasks({ cross_attn_head_mask: [0, 9], ff_neuron_mask: [5] });
  const q = queryFor(store.getState())!;
  expect(q.startsWith('?backend=wasm&v=1&')).toBe(true);
  const back = decodeExperiment(q, manifest);
  expect(back.ok && back.experiment).toEqual(experimentOf(store.getState()));
  // auto is the default: it is left out of the link
  store.getState().setBackendPreference('auto');
  expect(queryFor(store.getState())!.startsWith('?v=1&')).toBe(true);
});

test('nothing is written before the model is ready', () => {
  const store = createLabStore({
    send: () => undefined,
    analyze: () => undefined,
    fetchJson: async () => ({}),
    pageUrl: 'http://127.0.0.1/',
    backendPreference: 'auto',
    requestedModel: null,
    reloadPage: () => undefined,
  });
  expect(queryFor(store.getState())).toBeNull();
});

test('sync writes once per burst of changes, after the debounce', async () => {
  vi.useFakeTimers();
  try {
    const store = await readyStore();
    let url = '?backend=wasm';
    const writes: string[] = [];
    const stop = startUrlSync(
      store,
      {
        read: () => url,
        write: (q) => {
          url = q;
          writes.push(q);
        },
      },
      50,
    );
    for (const c of 'a red') store.getState().setPrompt(store.getState().prompt + c);
    expect(writes).toEqual([]);
    vi.advanceTimersByTime(60);
    expect(writes).toHaveLength(1);
    expect(new URLSearchParams(writes[0]).get('p')).toBe(`${manifest.memorized[0].caption}a red`);
    store.getState().setSeed(5);
    stop();
    vi.advanceTimersByTime(60);
    expect(writes).toHaveLength(1);
  } finally {
    vi.useRealTimers();
  }
});

test('switching the backend rewrites the link at once, keeping the experiment', async () => {
  vi.useFakeTimers();
  try {
    const store = await readyStore();
    store.getState().setSeed(77);
    let url = '';
    const stop = startUrlSync(store, { read: () => url, write: (q) => (url = q) }, 50);
    store.getState().setBackendPreference('webgpu');
    vi.advanceTimersByTime(60);
    const params = new URLSearchParams(url);
    expect(params.get('backend')).toBe('webgpu');
    expect(params.get('s')).toBe('77');
    stop();
  } finally {
    vi.useRealTimers();
  }
});

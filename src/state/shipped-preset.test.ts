import { describe, expect, test } from 'vitest';
import type { Manifest } from '../core/manifest';
import type { UniversalScores } from '../core/science';
import { fixtureManifest, loadedLabStore } from './test-support';

const fixture = fixtureManifest();
const entry = {
  id: 'universal-heads-40',
  method: 'universal',
  fractionPruned: 0.01,
  sparsity: 0.4,
  unitKind: 'heads' as const,
  path: 'presets/universal-heads-40.json',
  bytes: 300,
  sha256: 'b'.repeat(64),
};
/** The fixture with a shipped universal mask listed beside its own preset. */
const manifest: Manifest = { ...fixture, presets: [...(fixture.presets ?? []), entry] };
const presetFile = {
  id: 'universal-heads-40',
  method: 'universal',
  label: 'Universal mask, 40% of cross-attention heads',
  masks: { cross_attn_head_mask: [1, 2, 5, 6, 9, 10, 13, 17] },
  fractionPruned: 0.01,
  sparsity: 0.4,
  unitKind: 'heads',
  of: 'fixture-random',
};

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

async function ready(m: Manifest = manifest) {
  const fetched: { modelUrl: string; path: string; sha256: string }[] = [];
  const file = deferred<unknown>();
  const fetchModelJson = (modelUrl: string, e: { path: string; sha256: string }) => {
    fetched.push({ modelUrl, path: e.path, sha256: e.sha256 });
    return file.promise;
  };
  const { store, sent } = await loadedLabStore({ fetchModelJson }, m);
  return { store, sent, fetched, file };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

const computed: UniversalScores = {
  mode: 'ablation',
  units: 'heads',
  mask: 'cross_attn_head_mask',
  scores: Array.from({ length: 20 }, (_, j) => -j),
  poolSize: 3,
  flagged: ['a'],
  flagThreshold: 1,
  poolWen: [],
  referenceWen: [],
};

describe('the "Universal mask" preset from the mask the model ships', () => {
  test('is offered as soon as the model is ready, with no science job run', async () => {
    const { store, sent, fetched, file } = await ready();
    expect(fetched).toEqual([{ modelUrl: 'http://127.0.0.1:5173/models/m/', path: entry.path, sha256: entry.sha256 }]);
    expect(store.getState().pruningPreset).toBeNull();
    file.resolve(presetFile);
    await settle();
    const preset = store.getState().pruningPreset!;
    expect(preset).toMatchObject({
      label: 'Universal mask (40% of heads)',
      prompt: manifest.memorized[0].caption,
      shipped: true,
    });
    expect(preset.masks.cross_attn_head_mask).toEqual([1, 2, 5, 6, 9, 10, 13, 17]);
    expect(sent.some((r) => r.type === 'science')).toBe(false);
    // one click: the memorized caption with the shipped mask, generated
    store.getState().applyPreset('pruning');
    expect(store.getState().prompt).toBe(manifest.memorized[0].caption);
    expect(store.getState().masks.cross_attn_head_mask).toEqual([1, 2, 5, 6, 9, 10, 13, 17]);
    expect(sent.at(-1)).toMatchObject({ type: 'generate', params: { prompt: manifest.memorized[0].caption } });
  });

  test('gives way to a universal mask computed in the lab, before or after it arrives', async () => {
    const early = await ready();
    early.store.getState().runScience('universal');
    const job = early.sent.at(-1)!;
    early.store.getState().applyEvent({
      type: 'science-result',
      id: job.id,
      outcome: { job: 'universal', result: computed },
      cached: false,
      ms: 1,
    });
    const mine = early.store.getState().pruningPreset;
    expect(mine?.shipped).toBeUndefined();
    early.file.resolve(presetFile);
    await settle();
    expect(early.store.getState().pruningPreset).toBe(mine);

    const late = await ready();
    late.file.resolve(presetFile);
    await settle();
    expect(late.store.getState().pruningPreset?.shipped).toBe(true);
    late.store.getState().runScience('universal');
    const job2 = late.sent.at(-1)!;
    late.store.getState().applyEvent({
      type: 'science-result',
      id: job2.id,
      outcome: { job: 'universal', result: computed },
      cached: false,
      ms: 1,
    });
    expect(late.store.getState().pruningPreset?.shipped).toBeUndefined();
    expect(late.store.getState().pruningPreset?.masks.cross_attn_head_mask).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  test('says so in words when the file cannot be loaded, and the button waits for the job', async () => {
    const { store, file } = await ready();
    file.reject(new Error('presets/universal-heads-40.json: the server answered HTTP 404.'));
    await settle();
    expect(store.getState().pruningPreset).toBeNull();
    expect(store.getState().notices.at(-1)).toMatchObject({ level: 'warning' });
    expect(store.getState().notices.at(-1)?.message).toMatch(/could not be loaded .*HTTP 404.*Find universal mask/);
  });

  test("a file that is not this model's mask is refused, not applied", async () => {
    const { store, file } = await ready();
    file.resolve({ ...presetFile, masks: { cross_attn_head_mask: [99] } });
    await settle();
    expect(store.getState().pruningPreset).toBeNull();
    expect(store.getState().notices.at(-1)?.message).toMatch(/unit 99 is outside/);
  });

  test('a model that ships no universal mask fetches nothing', async () => {
    const { fetched } = await ready(fixture);
    expect(fetched).toEqual([]);
  });
});

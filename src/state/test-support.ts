/**
 * For the store's tests (Node): the fixture model's manifest, and a lab store whose worker is a
 * list of sent requests, loaded with that model as the worker would announce it.
 */
import fixtureJson from '../../public/models/fixture-random/manifest.json';
import { type Manifest, parseManifest } from '../core/manifest';
import type { BackendChoice } from '../gpu/backend';
import type { WorkerRequest } from '../workers/protocol';
import { type LabDeps, type LabStore, createLabStore } from './store';

/** The random-weight fixture's manifest, validated as the lab validates a model's. */
export function fixtureManifest(): Manifest {
  const parsed = parseManifest(structuredClone(fixtureJson));
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  return parsed.manifest;
}

export const TEST_BACKEND: BackendChoice = { backend: 'wasm', reason: 'test', unet: 'int8', threads: 1 };
export const ONE_MODEL_INDEX = { default: 'm', models: [{ id: 'm', path: 'm', label: 'M' }] };

/** A store whose requests are collected in `sent`; `deps` replaces any of the defaults. */
export function testLabStore(deps: Partial<LabDeps> & { index?: unknown } = {}): {
  store: LabStore;
  sent: WorkerRequest[];
} {
  const sent: WorkerRequest[] = [];
  const { index = ONE_MODEL_INDEX, ...rest } = deps;
  const store = createLabStore({
    send: (r) => sent.push(r),
    analyze: () => undefined,
    fetchJson: async () => index,
    pageUrl: 'http://127.0.0.1:5173/',
    backendPreference: 'auto',
    requestedModel: null,
    reloadPage: () => undefined,
    ...rest,
  });
  return { store, sent };
}

/** testLabStore after init, with `manifest` (default: the fixture) loaded by the first request. */
export async function loadedLabStore(
  deps: Partial<LabDeps> & { index?: unknown } = {},
  manifest: Manifest = fixtureManifest(),
): Promise<{ store: LabStore; sent: WorkerRequest[] }> {
  const lab = testLabStore(deps);
  await lab.store.getState().init();
  lab.store.getState().applyEvent({
    type: 'ready',
    id: lab.sent[0].id,
    manifest,
    backend: TEST_BACKEND,
    files: [],
    loadMs: 1,
  });
  return lab;
}

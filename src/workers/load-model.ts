/**
 * Everything between "load this model directory" and a ready ModelRunner: manifest validation,
 * backend choice, verified downloads, session creation — with a WASM fallback when WebGPU
 * sessions cannot be created, so a broken GPU driver costs speed, not the lab.
 */
import { organism, parseManifest, type Manifest } from '../core/manifest';
import { chooseBackend, wasmThreads, type BackendChoice, type BackendPreference } from '../gpu/backend';
import { DownloadError, fetchVerified, type DownloadFailure, type FileEntry } from '../gpu/download';
import { loadOrt } from '../gpu/ort';
import { OrtRunner } from '../gpu/runner';
import { knownAnswerProblem, parseReference } from '../core/known-answer';
import type { LoadPhase } from './protocol';

export interface LoadedModel {
  kind: 'organism';
  manifest: Manifest;
  runner: OrtRunner;
  backend: BackendChoice;
  files: { path: string; bytes: number; fromCache: boolean }[];
}

export class LoadError extends Error {
  constructor(
    message: string,
    /** 'download': retry may help; 'model': the files themselves are wrong */
    readonly kind: 'download' | 'model',
    readonly failure?: DownloadFailure,
  ) {
    super(message);
    this.name = 'LoadError';
  }
}

export type LoadProgress = (phase: LoadPhase, label: string, loaded: number, total: number, fromCache: boolean) => void;

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

async function fetchManifest(modelUrl: string): Promise<Manifest> {
  const url = new URL('manifest.json', modelUrl).href;
  let response: Response;
  try {
    response = await fetch(url, { cache: 'no-cache' });
  } catch (err) {
    throw new LoadError(`Could not reach the server for ${url} (${message(err)}).`, 'download', 'network');
  }
  if (!response.ok) throw new LoadError(`${url}: the server answered HTTP ${response.status}.`, 'download', 'http');
  let json: unknown;
  try {
    json = await response.json();
  } catch {
    throw new LoadError(`${url} is not valid JSON.`, 'model');
  }
  const parsed = parseManifest(json);
  if (!parsed.ok) {
    throw new LoadError(`The model manifest is invalid: ${parsed.problems.slice(0, 5).join('; ')}`, 'model');
  }
  return parsed.manifest;
}

function unetEntry(manifest: Manifest, choice: BackendChoice): FileEntry {
  const { files } = organism(manifest);
  const entry = choice.unet === 'fp16' ? files.unet.fp16 : files.unet.int8;
  if (!entry) throw new LoadError('The manifest lists no fp16 UNet.', 'model');
  return entry;
}

/** Download the listed files one after another, reporting progress over all of them together. */
async function downloadAll(modelUrl: string, entries: FileEntry[], onProgress: LoadProgress) {
  const total = entries.reduce((sum, e) => sum + e.bytes, 0);
  let done = 0;
  const out: { bytes: ArrayBuffer; fromCache: boolean }[] = [];
  for (const entry of entries) {
    try {
      const file = await fetchVerified(modelUrl, entry, (p) =>
        onProgress('download', p.file, done + p.loaded, total, p.fromCache),
      );
      out.push(file);
    } catch (err) {
      if (err instanceof DownloadError) throw new LoadError(err.message, 'download', err.failure);
      throw err;
    }
    done += entry.bytes;
  }
  return out;
}

async function createRunner(modelUrl: string, manifest: Manifest, choice: BackendChoice, onProgress: LoadProgress) {
  const { files: listed } = organism(manifest);
  const entries = [listed.textEncoder, unetEntry(manifest, choice), listed.reference];
  const [text, unet, reference] = await downloadAll(modelUrl, entries, onProgress);
  onProgress('session', `Starting ${choice.backend === 'webgpu' ? 'WebGPU' : 'WebAssembly'} sessions`, 0, 1, false);
  const ort = await loadOrt(choice);
  const runner = await OrtRunner.create(ort, manifest, { textEncoder: text.bytes, unet: unet.bytes }, choice);
  onProgress('session', 'Checking the model against its known answer', 0, 1, false);
  try {
    const problem = await knownAnswerProblem(runner, manifest, parseReference(reference.bytes));
    if (problem) {
      throw new LoadError(
        `This copy of the model gives wrong answers, so the lab will not use it: its files match their checksums but not the results the model was published with. The files on the server are probably damaged; reloading will not help. (${problem})`,
        'model',
      );
    }
  } catch (err) {
    await runner.release();
    throw err;
  }
  const files = entries.map((e, i) => ({
    path: e.path,
    bytes: e.bytes,
    fromCache: [text, unet, reference][i].fromCache,
  }));
  return { runner, files };
}

export async function loadModel(
  modelUrl: string,
  preference: BackendPreference,
  onProgress: LoadProgress,
): Promise<LoadedModel> {
  onProgress('manifest', 'manifest.json', 0, 1, false);
  const manifest = await fetchManifest(modelUrl);
  const env = {
    gpu: typeof navigator !== 'undefined' ? navigator.gpu : undefined,
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    hardwareConcurrency: navigator.hardwareConcurrency ?? 1,
  };
  let backend = await chooseBackend(preference, env, organism(manifest).files.unet.fp16 !== undefined);
  try {
    const { runner, files } = await createRunner(modelUrl, manifest, backend, onProgress);
    return { kind: 'organism', manifest, runner, backend, files };
  } catch (err) {
    if (err instanceof LoadError || backend.backend !== 'webgpu') throw wrapSessionError(err);
    // A WebGPU session that fails to build (driver, missing kernel) should not end the lab.
    backend = {
      backend: 'wasm',
      reason: `WebGPU session creation failed (${message(err)}); fell back to WebAssembly on the CPU.`,
      unet: 'int8',
      threads: wasmThreads(env),
    };
    try {
      const { runner, files } = await createRunner(modelUrl, manifest, backend, onProgress);
      return { kind: 'organism', manifest, runner, backend, files };
    } catch (second) {
      throw wrapSessionError(second);
    }
  }
}

function wrapSessionError(err: unknown): Error {
  if (err instanceof LoadError) return err;
  return new LoadError(`The model could not be started: ${message(err)}`, 'model');
}

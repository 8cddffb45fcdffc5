/**
 * Everything between "load this model directory" and a ready ModelRunner: manifest validation,
 * backend choice, verified downloads, session creation — with a WASM fallback when WebGPU
 * sessions cannot be created, so a broken GPU driver costs speed, not the lab.
 *
 * Under "auto" on a real GPU, one UNet step is timed on WebGPU and on WebAssembly and the faster
 * is kept (a 32x32 model can run faster on the CPU than on a modest GPU). Errors carry a sentence
 * for the user and the technical detail apart, and say whether trying again can help.
 */
import { organism, parseManifest, type Manifest } from '../core/manifest';
import { timeUNetStep } from '../core/step-timing';
import {
  type BackendChoice,
  type BackendEnvironment,
  type BackendPreference,
  chooseBackend,
  fasterBackend,
  wasmThreads,
} from '../gpu/backend';
import { DownloadError, type DownloadFailure, type FileEntry, fetchVerified, httpError } from '../gpu/download';
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

export interface LoadOptions {
  /**
   * Test-only (the page's ?measure-software-gpu=1): under "auto", time a software WebGPU adapter
   * against WebAssembly too, instead of passing it over unmeasured. Where the only adapter is
   * Chromium's SwiftShader this runs the measuring path that a real GPU takes.
   */
  measureSoftwareGpu?: boolean;
}

/**
 * Past this UNet size the CPU is not timed: a model that large is many times slower on
 * WebAssembly than on any real GPU, and one CPU step of it would hold up the first load.
 */
const MEASURE_MAX_BYTES = 64 * 1024 * 1024;

export class LoadError extends Error {
  constructor(
    /** one sentence for the user */
    message: string,
    /** 'download': trying again may help; 'model': the files themselves are wrong */
    readonly kind: 'download' | 'model',
    /** what a developer needs: URLs, sizes, hashes, the runtime's own words */
    readonly detail: string,
    readonly failure?: DownloadFailure,
  ) {
    super(message);
    this.name = 'LoadError';
  }
}

export type LoadProgress = (phase: LoadPhase, label: string, loaded: number, total: number, fromCache: boolean) => void;

const text = (err: unknown) => (err instanceof Error ? err.message : String(err));

const DAMAGED_MANIFEST =
  "This model's description file (manifest.json) is damaged or was written for another version of the lab, " +
  'so the model cannot be opened.';

async function fetchManifest(modelUrl: string): Promise<Manifest> {
  const url = new URL('manifest.json', modelUrl).href;
  let response: Response;
  try {
    response = await fetch(url, { cache: 'no-cache' });
  } catch (err) {
    throw new LoadError(
      'The model could not be downloaded: the server did not answer. Check the internet connection and try again.',
      'download',
      `${url}: ${text(err)}`,
      'network',
    );
  }
  if (!response.ok) {
    const error = httpError(url, 'manifest.json', response.status);
    throw new LoadError(error.message, error.retryable ? 'download' : 'model', error.detail, 'http');
  }
  let json: unknown;
  try {
    json = await response.json();
  } catch (err) {
    throw new LoadError(DAMAGED_MANIFEST, 'model', `${url} is not valid JSON (${text(err)}).`);
  }
  const parsed = parseManifest(json);
  if (!parsed.ok) throw new LoadError(DAMAGED_MANIFEST, 'model', `${url}:\n${parsed.problems.join('\n')}`);
  return parsed.manifest;
}

function unetEntry(manifest: Manifest, choice: BackendChoice): FileEntry {
  const { files } = organism(manifest);
  const entry = choice.unet === 'fp16' ? files.unet.fp16 : files.unet.int8;
  if (!entry) throw new LoadError(DAMAGED_MANIFEST, 'model', 'The manifest lists no fp16 UNet.');
  return entry;
}

function loadErrorOf(err: DownloadError): LoadError {
  return new LoadError(err.message, err.retryable ? 'download' : 'model', err.detail, err.failure);
}

/**
 * One file, verified. A body of the wrong size or hash is asked for once more (no-store) before
 * the file is called damaged: a proxy or a dropped packet can spoil one transfer, not two alike.
 */
export async function fetchModelFile(
  modelUrl: string,
  entry: FileEntry,
  onProgress: Parameters<typeof fetchVerified>[2],
) {
  try {
    return await fetchVerified(modelUrl, entry, onProgress);
  } catch (err) {
    if (!(err instanceof DownloadError)) throw err;
    if (err.failure !== 'checksum' && err.failure !== 'oversize') throw loadErrorOf(err);
  }
  try {
    return await fetchVerified(modelUrl, entry, onProgress);
  } catch (err) {
    if (err instanceof DownloadError) {
      const again = loadErrorOf(err);
      throw new LoadError(again.message, again.kind, `${again.detail} A second download was the same.`, err.failure);
    }
    throw err;
  }
}

/** Files already downloaded during this load, by path: two backends started side by side share them. */
type Downloaded = Map<string, { bytes: ArrayBuffer; fromCache: boolean }>;

/**
 * Download the listed files one after another, reporting progress over all of them together.
 * A file in `downloaded` is not fetched again; each caller gets its own copy of the bytes, as
 * session creation may take ownership of the buffer it is given.
 */
async function downloadAll(modelUrl: string, entries: FileEntry[], onProgress: LoadProgress, downloaded: Downloaded) {
  const total = entries.reduce((sum, e) => sum + e.bytes, 0);
  let done = 0;
  const out: { bytes: ArrayBuffer; fromCache: boolean }[] = [];
  for (const entry of entries) {
    let file = downloaded.get(entry.path);
    if (!file) {
      file = await fetchModelFile(modelUrl, entry, (p) =>
        onProgress('download', p.file, done + p.loaded, total, p.fromCache),
      );
      downloaded.set(entry.path, file);
    }
    out.push({ bytes: file.bytes.slice(0), fromCache: file.fromCache });
    done += entry.bytes;
  }
  return out;
}

interface Started {
  runner: OrtRunner;
  files: LoadedModel['files'];
}

const backendName = (c: BackendChoice) => (c.backend === 'webgpu' ? 'WebGPU' : 'WebAssembly');

async function createRunner(
  modelUrl: string,
  manifest: Manifest,
  choice: BackendChoice,
  onProgress: LoadProgress,
  downloaded: Downloaded = new Map(),
): Promise<Started> {
  const { files: listed } = organism(manifest);
  const entries = [listed.textEncoder, unetEntry(manifest, choice), listed.reference];
  const [text, unet, reference] = await downloadAll(modelUrl, entries, onProgress, downloaded);
  onProgress('session', `Starting ${backendName(choice)} sessions`, 0, 1, false);
  const ort = await loadOrt(choice);
  const runner = await OrtRunner.create(ort, manifest, { textEncoder: text.bytes, unet: unet.bytes }, choice);
  onProgress('session', 'Checking the model against its known answer', 0, 1, false);
  try {
    const problem = await knownAnswerProblem(runner, manifest, parseReference(reference.bytes));
    if (problem) {
      throw new LoadError(
        'This copy of the model gives wrong answers, so the lab will not use it: its files match their checksums but not the results the model was published with. The files on the server are probably damaged; reloading will not help.',
        'model',
        problem,
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

function environment(): BackendEnvironment {
  return {
    gpu: typeof navigator !== 'undefined' ? navigator.gpu : undefined,
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    hardwareConcurrency: navigator.hardwareConcurrency ?? 1,
  };
}

/**
 * Auto with a GPU: start both backends, time one step on each, keep the faster and release the
 * other. If the CPU side cannot start, the GPU is kept without a comparison (and the reason says so).
 */
async function startMeasured(
  modelUrl: string,
  manifest: Manifest,
  gpu: BackendChoice,
  env: BackendEnvironment,
  onProgress: LoadProgress,
): Promise<{ started: Started; backend: BackendChoice }> {
  const downloaded: Downloaded = new Map();
  const onGpu = await createRunner(modelUrl, manifest, gpu, onProgress, downloaded);
  const wasm = await chooseBackend('wasm', env, false);
  let onCpu: Started;
  try {
    onCpu = await createRunner(modelUrl, manifest, wasm, onProgress, downloaded);
  } catch (err) {
    const note = ` It was not timed against WebAssembly, which could not start (${text(err)}).`;
    return { started: onGpu, backend: { ...gpu, reason: `${gpu.reason}${note}` } };
  }
  try {
    onProgress('session', 'Timing one step on WebGPU and on WebAssembly to keep the faster', 0, 1, false);
    const now = () => performance.now();
    const webgpuMs = (await timeUNetStep(onGpu.runner, manifest, { now })).ms;
    const wasmMs = (await timeUNetStep(onCpu.runner, manifest, { now })).ms;
    const backend = fasterBackend(gpu, wasm, { webgpuMs, wasmMs }, env);
    const [kept, dropped] = backend.backend === 'webgpu' ? [onGpu, onCpu] : [onCpu, onGpu];
    await dropped.runner.release();
    return { started: kept, backend };
  } catch (err) {
    await Promise.all([onGpu.runner.release(), onCpu.runner.release()]);
    throw err;
  }
}

export async function loadModel(
  modelUrl: string,
  preference: BackendPreference,
  onProgress: LoadProgress,
  options: LoadOptions = {},
): Promise<LoadedModel> {
  onProgress('manifest', 'manifest.json', 0, 1, false);
  const manifest = await fetchManifest(modelUrl);
  const env = environment();
  const hasFp16 = organism(manifest).files.unet.fp16 !== undefined;
  // auto passes a software adapter over for WebAssembly, unless a test asks to time it like a GPU
  const asked = preference === 'auto' && options.measureSoftwareGpu ? 'webgpu' : preference;
  let backend = await chooseBackend(asked, env, hasFp16);
  const measure =
    preference === 'auto' && backend.backend === 'webgpu' && unetEntry(manifest, backend).bytes <= MEASURE_MAX_BYTES;
  try {
    if (measure) {
      const measured = await startMeasured(modelUrl, manifest, backend, env, onProgress);
      return { kind: 'organism', manifest, ...measured.started, backend: measured.backend };
    }
    const { runner, files } = await createRunner(modelUrl, manifest, backend, onProgress);
    return { kind: 'organism', manifest, runner, backend, files };
  } catch (err) {
    if (err instanceof LoadError || backend.backend !== 'webgpu') throw sessionError(err);
    // A WebGPU session that fails to build (driver, missing kernel) should not end the lab.
    backend = {
      backend: 'wasm',
      reason: `WebGPU could not start on this device (${text(err)}); running on the CPU with WebAssembly instead.`,
      unet: 'int8',
      threads: wasmThreads(env),
    };
    try {
      const { runner, files } = await createRunner(modelUrl, manifest, backend, onProgress);
      return { kind: 'organism', manifest, runner, backend, files };
    } catch (second) {
      throw sessionError(second);
    }
  }
}

/** The runtime could not open the model: its own words ("protobuf parsing failed") go to the detail. */
function sessionError(err: unknown): Error {
  if (err instanceof LoadError) return err;
  return new LoadError(
    'The model files could not be opened: they are damaged, or the model uses operations this browser cannot run.',
    'model',
    text(err),
  );
}

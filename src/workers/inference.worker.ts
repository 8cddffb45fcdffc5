/**
 * The inference worker: owns the ONNX sessions, so model loading and denoising never block the UI.
 * One switch over the protocol; every branch catches and answers {type: 'error'}, so the UI never
 * waits forever. A new generate supersedes a running one at its next step boundary.
 *
 * Science jobs share the one session under the rule of core/session-admission.ts (the store asks
 * it first; it is asked again here for requests that crossed in flight): a newer generate
 * supersedes a running one, a science job waits for a running generation, and while a science job
 * runs every other job is refused (kind 'busy').
 *
 * Attention goes to the analysis worker over their direct channel (peer.ts), and the training
 * index comes from it, so neither passes through the UI thread nor is downloaded twice.
 */
import type { MaskSet } from '../core/masks';
import type { TrainIndex } from '../core/metrics/replication';
import type { Manifest } from '../core/manifest';
import type { ModelRunner } from '../core/pipeline';
import { isAbortError, JobInputError, type Progress } from '../core/science';
import { admitJob } from '../core/session-admission';
import { VariantCache } from '../core/variant-cache';
import { persistentCache } from './persistent-cache';
import type { BackendPreference } from '../gpu/backend';
import { fetchVerified } from '../gpu/download';
import { benchBare, benchPipeline } from './bench';
import { Cancelled, runGeneration } from './generation';
import { startHeartbeat } from './heartbeat';
import { folderFromFiles, folderFromUrl } from '../gpu/model-folder';
import { type LoadedLatentModel, loadLatentModel } from './load-latent';
import { LoadError, type LoadOptions, loadModel, type LoadedModel } from './load-model';
import { InferencePeer } from './peer';
import {
  type FolderSource,
  transferables,
  type GenerateParams,
  type WorkerEvent,
  type WorkerRequest,
} from './protocol';
import type { ScienceRequest } from '../core/jobs';
import { type ScienceEnv, runScienceJob } from './science';
import { loadTrainIndex } from './train-index';
import { decode as decodeJpegFile } from 'jpeg-js';

const scope = self as unknown as DedicatedWorkerGlobalScope;

/** JPEG reference images, decoded here in plain JavaScript (the same decoder as the CLI's). */
const decodeJpeg = (bytes: Uint8Array) => decodeJpegFile(bytes, { useTArray: true, formatAsRGBA: true });

interface Job {
  id: number;
  kind: 'generate' | 'science';
  controller: AbortController;
  done: Promise<void>;
}

let model: LoadedModel | LoadedLatentModel | null = null;
let loading: Promise<void> = Promise.resolve();
/** Counts 'load' requests: a load that finishes after a newer one was asked for is dropped. */
let latestLoad = 0;
let current: Job | null = null;
let modelUrl = '';
/** Science results per experiment (keys name the model id@version), kept across reloads in IndexedDB. */
const scienceCache = persistentCache();
let train: Promise<TrainIndex> | null = null;
/**
 * Other models a science job opened (unlearning variants, the base of a loaded variant), by URL:
 * loaded on first use, kept until the next 'load' so a second comparison starts at once. Each is
 * a few MB of int8 weights and two small sessions.
 */
const extraModels = new Map<string, Promise<LoadedModel>>();
/** the direct channel to the analysis worker */
const peer = new InferencePeer();
/** generation variants of the loaded model that already ran (a head click reuses the unpruned one) */
const variantRuns = new VariantCache();

class Busy extends Error {}
/** A load overtaken by a newer one; the store has already forgotten it, so nothing is said. */
class Superseded extends Error {}

function emit(event: WorkerEvent): void {
  scope.postMessage(event, transferables(event));
}

const text = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Progress messages are throttled: a 10 MB file arrives in hundreds of chunks. */
function progressEmitter(id: number) {
  let last = 0;
  return (
    phase: 'manifest' | 'download' | 'session',
    label: string,
    loaded: number,
    total: number,
    fromCache: boolean,
  ) => {
    const now = performance.now();
    if (phase === 'download' && loaded < total && now - last < 80) return;
    last = now;
    emit({ type: 'progress', id, phase, label, loaded, total, fromCache });
  };
}

async function stopCurrent(): Promise<void> {
  const job = current;
  if (!job) return;
  job.controller.abort();
  await job.done.catch(() => undefined);
}

async function load(
  id: number,
  url: string,
  backend: BackendPreference,
  options: LoadOptions,
  source?: FolderSource,
): Promise<void> {
  // Loads run one after another (a user can pick a model while the first one is still loading):
  // otherwise the older load, finishing last, would become the model the newer request runs on.
  const ticket = ++latestLoad;
  await loading;
  if (ticket !== latestLoad) throw new Superseded();
  await stopCurrent();
  modelUrl = url;
  train = null;
  const started = performance.now();
  const previous = model;
  model = null;
  variantRuns.clear();
  await previous?.runner.release();
  await releaseExtraModels();
  const loaded = source
    ? await loadLatentModel(
        source.kind === 'files' ? folderFromFiles(source.files) : folderFromUrl(source.baseUrl),
        backend,
        progressEmitter(id),
      )
    : await loadModel(url, backend, progressEmitter(id), options);
  if (ticket !== latestLoad) {
    await loaded.runner.release();
    throw new Superseded();
  }
  model = loaded;
  emit({
    type: 'ready',
    id,
    manifest: loaded.manifest,
    backend: loaded.backend,
    files: loaded.files,
    loadMs: Math.round(performance.now() - started),
  });
}

async function startGeneration(id: number, params: GenerateParams, masks: MaskSet[] | undefined): Promise<void> {
  const previous = current;
  const admission = admitJob(previous?.kind ?? null, 'generate');
  if (admission.action === 'refuse') throw new Busy(admission.message);
  previous?.controller.abort();
  const controller = new AbortController();
  const job: Job = {
    id,
    kind: 'generate',
    controller,
    done: (async () => {
      // Sessions run one call at a time: wait for the superseded run to reach its step boundary.
      await previous?.done.catch(() => undefined);
      await loading;
      if (controller.signal.aborted) throw new Cancelled();
      if (!model) throw new Error('No model is loaded yet. Load a model first.');
      try {
        await runGeneration(
          model,
          id,
          params,
          masks,
          controller.signal,
          emit,
          (generation, attention) => peer.shareAttention(generation, attention),
          variantRuns,
        );
      } catch (err) {
        // Whatever the pipeline threw on abort, the caller should see a cancellation.
        if (controller.signal.aborted) throw new Cancelled();
        throw err;
      }
    })(),
  };
  current = job;
  try {
    await job.done;
  } finally {
    if (current === job) current = null;
  }
}

async function releaseExtraModels(): Promise<void> {
  const all = [...extraModels.values()];
  extraModels.clear();
  await Promise.all(all.map((p) => p.then((m) => m.runner.release()).catch(() => undefined)));
}

/** Opens another model for a science job on the loaded model's backend, with its download progress as the job's. */
function openModel(
  url: string,
  onProgress: (p: Progress) => void,
): Promise<{ manifest: Manifest; runner: ModelRunner }> {
  if (model?.kind === 'organism' && url === modelUrl) return Promise.resolve(model);
  let pending = extraModels.get(url);
  if (!pending) {
    const name = url.replace(/\/$/, '').split('/').pop() ?? url;
    const backend = model?.backend.backend === 'webgpu' ? 'webgpu' : 'wasm';
    pending = loadModel(url, backend, (phase, label, loaded, total) =>
      onProgress({
        stage: phase === 'download' ? `download ${name}: ${label}` : `open ${name}`,
        done: loaded,
        total: Math.max(total, 1),
      }),
    );
    extraModels.set(url, pending);
    pending.catch(() => extraModels.delete(url)); // a failed download may be retried
  }
  return pending;
}

/** A JSON file a manifest lists, checked against its size and hash (and cached like model files). */
async function fetchJson(baseUrl: string, entry: { path: string; bytes: number; sha256: string }): Promise<unknown> {
  const file = await fetchVerified(baseUrl, entry, () => undefined);
  return JSON.parse(new TextDecoder().decode(file.bytes));
}

/**
 * The training images for the evaluation's replication scores, once per model: borrowed from the
 * analysis worker, which holds them anyway; loaded here only when it is not connected.
 */
function trainIndex(): Promise<TrainIndex> {
  const m = model;
  if (!m) return Promise.reject(new Error('No model is loaded yet.'));
  const url = modelUrl;
  train ??= peer.connected
    ? peer.trainIndex(url, m.manifest).catch(() => loadTrainIndex(url, m.manifest))
    : loadTrainIndex(url, m.manifest);
  const pending = train;
  pending.catch(() => {
    if (train === pending) train = null; // a failed fetch may be retried
  });
  return pending;
}

async function startScience(id: number, request: ScienceRequest): Promise<void> {
  const previous = current;
  const admission = admitJob(previous?.kind ?? null, 'science');
  if (admission.action === 'refuse') throw new Busy(admission.message);
  const controller = new AbortController();
  const started = performance.now();
  let last = 0;
  const job: Job = {
    id,
    kind: 'science',
    controller,
    done: (async () => {
      // A running generation is short: let it finish rather than cancel what the user asked for.
      await previous?.done.catch(() => undefined);
      await loading;
      if (!model) throw new Error('No model is loaded yet. Load a model first.');
      // A model from a folder brings no training images: its evaluation reports image-free proxies,
      // and replication is measured only on the reference images the page sends with the evaluation.
      const env: ScienceEnv =
        model.kind === 'latent'
          ? {
              runner: { kind: 'latent', runner: model.runner, model: model.model },
              manifest: model.manifest,
              cache: scienceCache,
              decodeJpeg,
            }
          : {
              runner: model.runner,
              manifest: model.manifest,
              cache: scienceCache,
              train: trainIndex,
              openModel,
              fetchJson,
              modelUrl,
            };
      const { outcome, cached } = await runScienceJob(env, request, controller.signal, (p) => {
        // Throttled: a batched job reports per model call, and the UI needs a few updates a second.
        const now = performance.now();
        if (p.done < p.total && now - last < 100) return;
        last = now;
        emit({
          type: 'science-progress',
          id,
          job: request.job,
          stage: p.stage,
          done: p.done,
          total: p.total,
          ...(p.detail !== undefined ? { detail: p.detail } : {}),
        });
      });
      emit({ type: 'science-result', id, outcome, cached, ms: Math.round(performance.now() - started) });
    })(),
  };
  current = job;
  try {
    await job.done;
  } finally {
    if (current === job) current = null;
  }
}

async function handle(req: WorkerRequest): Promise<void> {
  switch (req.type) {
    case 'load': {
      const run = load(
        req.id,
        req.modelUrl,
        req.backend,
        { measureSoftwareGpu: req.measureSoftwareGpu === true },
        req.source,
      );
      loading = run.catch(() => undefined);
      try {
        await run;
      } catch (err) {
        if (err instanceof Superseded) return;
        const known = err instanceof LoadError ? err : null;
        emit({
          type: 'error',
          id: req.id,
          request: 'load',
          kind: known?.kind ?? 'model',
          message: known ? known.message : 'The model could not be loaded because of an unexpected error.',
          detail: known ? known.detail : text(err),
          failure: known?.failure,
        });
      }
      return;
    }
    case 'generate': {
      try {
        await startGeneration(req.id, req.params, req.variants);
      } catch (err) {
        const cancelled = err instanceof Cancelled;
        emit({
          type: 'error',
          id: req.id,
          request: 'generate',
          kind: cancelled ? 'cancelled' : err instanceof Busy ? 'busy' : 'generate',
          message: cancelled
            ? 'The generation was cancelled.'
            : err instanceof Busy
              ? err.message
              : 'The image could not be made: the model stopped with an error.',
          ...(cancelled || err instanceof Busy ? {} : { detail: text(err) }),
        });
      }
      return;
    }
    case 'science': {
      try {
        const { type: _type, id: _id, ...request } = req;
        await startScience(req.id, request);
      } catch (err) {
        const cancelled = isAbortError(err) || err instanceof Cancelled;
        // Busy and a refusal for want of prompts are the user's to act on: their words are the message.
        const plain = err instanceof Busy || err instanceof JobInputError;
        emit({
          type: 'error',
          id: req.id,
          request: 'science',
          kind: cancelled ? 'cancelled' : err instanceof Busy ? 'busy' : 'science',
          message: cancelled
            ? `The ${req.job} job was cancelled.`
            : plain
              ? (err as Error).message
              : `The ${req.job} job stopped with an error.`,
          ...(cancelled || plain ? {} : { detail: text(err) }),
        });
      }
      return;
    }
    case 'bench': {
      try {
        // The bench owns the session while it runs: stop any generation first.
        await stopCurrent();
        await loading;
        if (!model) throw new Error('No model is loaded yet.');
        if (model.kind === 'latent') throw new Error('The in-page bench runs on the bundled model organism.');
        const result =
          req.bareBatch !== undefined
            ? await benchBare(model, req.steps, req.bareBatch)
            : await benchPipeline(model, req.steps, req.generations);
        emit({ type: 'bench', id: req.id, result });
      } catch (err) {
        emit({ type: 'error', id: req.id, request: 'bench', kind: 'protocol', message: text(err) });
      }
      return;
    }
    case 'connect':
      if (req.port) peer.connect(req.port);
      else peer.disconnect('the analysis worker stopped');
      return;
    case 'cancel': {
      try {
        if (current && current.id === req.id) current.controller.abort();
      } catch (err) {
        emit({ type: 'error', id: req.id, request: 'cancel', kind: 'protocol', message: text(err) });
      }
      return;
    }
    default: {
      const unknown = req as { type?: unknown; id?: unknown };
      emit({
        type: 'error',
        id: typeof unknown.id === 'number' ? unknown.id : -1,
        request: 'unknown',
        kind: 'protocol',
        message: `Unknown request type ${String(unknown.type)}.`,
      });
    }
  }
}

// ORT starts its WASM threads by loading this same file under the name "em-pthread…"; those copies
// must not install the handler, or session creation hangs.
if (!scope.name?.startsWith('em-pthread')) {
  scope.onmessage = (ev: MessageEvent<WorkerRequest>) => {
    void handle(ev.data);
  };
  startHeartbeat((beat) => scope.postMessage(beat));
}

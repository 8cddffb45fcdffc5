/**
 * The inference worker: owns the ONNX sessions, so model loading and denoising never block the UI.
 * One switch over the protocol; every branch catches and answers {type: 'error'}, so the UI never
 * waits forever. A new generate supersedes a running one at its next step boundary.
 */
import type { MaskSet } from '../core/masks';
import { benchPipeline } from './bench';
import { Cancelled, runGeneration } from './generation';
import { LoadError, loadModel, type LoadedModel } from './load-model';
import { transferables, type GenerateParams, type WorkerEvent, type WorkerRequest } from './protocol';

const scope = self as unknown as DedicatedWorkerGlobalScope;

interface Job {
  id: number;
  controller: AbortController;
  done: Promise<void>;
}

let model: LoadedModel | null = null;
let loading: Promise<void> = Promise.resolve();
let current: Job | null = null;

function emit(event: WorkerEvent): void {
  scope.postMessage(event, transferables(event));
}

const text = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Progress messages are throttled: a 10 MB file arrives in hundreds of chunks. */
function progressEmitter(id: number) {
  let last = 0;
  return (phase: 'manifest' | 'download' | 'session', label: string, loaded: number, total: number, fromCache: boolean) => {
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

async function load(id: number, modelUrl: string, backend: 'auto' | 'wasm' | 'webgpu'): Promise<void> {
  await stopCurrent();
  const started = performance.now();
  const previous = model;
  model = null;
  await previous?.runner.release();
  const loaded = await loadModel(modelUrl, backend, progressEmitter(id));
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

async function startGeneration(id: number, params: GenerateParams, variants: MaskSet[] | undefined): Promise<void> {
  const previous = current;
  previous?.controller.abort();
  const controller = new AbortController();
  const job: Job = {
    id,
    controller,
    done: (async () => {
      // Sessions run one call at a time: wait for the superseded run to reach its step boundary.
      await previous?.done.catch(() => undefined);
      await loading;
      if (controller.signal.aborted) throw new Cancelled();
      if (!model) throw new Error('No model is loaded yet. Load a model first.');
      try {
        await runGeneration(model, id, params, variants, controller.signal, emit);
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

async function handle(req: WorkerRequest): Promise<void> {
  switch (req.type) {
    case 'load': {
      const run = load(req.id, req.modelUrl, req.backend);
      loading = run.catch(() => undefined);
      try {
        await run;
      } catch (err) {
        const kind = err instanceof LoadError ? err.kind : 'model';
        const failure = err instanceof LoadError ? err.failure : undefined;
        emit({ type: 'error', id: req.id, request: 'load', kind, message: text(err), failure });
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
          kind: cancelled ? 'cancelled' : 'generate',
          message: cancelled ? 'The generation was cancelled.' : `Generation failed: ${text(err)}`,
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
        emit({ type: 'bench', id: req.id, result: await benchPipeline(model, req.steps, req.generations) });
      } catch (err) {
        emit({ type: 'error', id: req.id, request: 'bench', kind: 'protocol', message: text(err) });
      }
      return;
    }
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
}

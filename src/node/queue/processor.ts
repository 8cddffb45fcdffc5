/**
 * The chunk processor, run by BullMQ as a sandboxed processor in a worker thread (sandbox.mjs).
 *
 * Why sandboxed: onnxruntime-node's session.run holds the JavaScript thread for the whole UNet
 * call (seconds for a large batch). In a thread of its own it cannot starve the worker's main
 * thread, which renews the chunk's lock in Redis; so a lock is lost only when a worker really is
 * gone, and lockDuration need not be longer than the slowest UNet call. BullMQ keeps the thread
 * between jobs, so the sessions below stay warm: a model is loaded once per thread, on its first
 * chunk, and kept (the two most recent models per thread).
 *
 * Refusals are final (UnrecoverableError: no retry, the run fails with this message): a chunk for
 * a model this worker does not hold, for another execution provider, or one that does not parse.
 */
import { hostname } from 'node:os';
import { threadId, workerData } from 'node:worker_threads';
import { type SandboxedJob, UnrecoverableError } from 'bullmq';
import type { PromptEmbeddings } from '../../core/science/batch';
import { encodePrompts } from '../../core/science/batch';
import { ModelDirError, type NodeModel, loadNodeModel } from '../runner';
import { type BlockEncoder, runChunk } from './chunks';
import { type CatalogEntry, describeCatalog, describeModel } from './models';
import { type ChunkResult, ChunkSpecSchema, describeIssues } from './schema';

/** What the worker's main thread hands each processor thread. */
export interface ProcessorConfig {
  catalog: CatalogEntry[];
  ep: 'cpu' | 'cuda';
  threads: number;
}

const config = workerData as ProcessorConfig;
const me = `${hostname()}:${process.pid}/${threadId}`;
const MODELS_KEPT = 2;
const BLOCKS_KEPT = 256;

const models = new Map<string, Promise<NodeModel>>();
const blocks = new Map<string, Map<string, PromptEmbeddings>>();

async function modelFor(entry: CatalogEntry): Promise<NodeModel> {
  let model = models.get(entry.hash);
  if (!model) {
    const began = performance.now();
    model = loadNodeModel(entry.dir, { precision: entry.precision, threads: config.threads, ep: config.ep });
    void model.then(
      () =>
        console.log(
          `loaded ${describeModel(entry)} in ${((performance.now() - began) / 1000).toFixed(1)} s (thread ${threadId})`,
        ),
      () => {},
    );
    models.set(entry.hash, model);
    model.catch(() => models.delete(entry.hash));
    while (models.size > MODELS_KEPT) {
      const [oldest, loading] = models.entries().next().value!;
      models.delete(oldest);
      blocks.delete(oldest);
      void loading.then((m) => m.release()).catch(() => {});
    }
  } else {
    // most recently used last
    models.delete(entry.hash);
    models.set(entry.hash, model);
  }
  return model;
}

/** Prompt blocks encoded once per model and kept, since the chunks of a stage share them. */
function encoderFor(entry: CatalogEntry, model: NodeModel): BlockEncoder {
  const kept = blocks.get(entry.hash) ?? new Map<string, PromptEmbeddings>();
  blocks.set(entry.hash, kept);
  return {
    async encode(block) {
      const key = JSON.stringify(block);
      let emb = kept.get(key);
      if (!emb) {
        emb = await encodePrompts(model.runner, model.manifest, block, {}, block.length);
        kept.set(key, emb);
        if (kept.size > BLOCKS_KEPT) kept.delete(kept.keys().next().value!);
      }
      return emb;
    },
  };
}

function cudaHint(message: string): string {
  return /providers_cuda|providers_shared|CUDA|cudnn/i.test(message)
    ? " This machine's onnxruntime-node has no working CUDA execution provider: install it with ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci (CUDA 12 and cuDNN 9 must be installed), or start the worker with --ep cpu."
    : '';
}

export async function processChunk(job: SandboxedJob): Promise<ChunkResult> {
  const parsed = ChunkSpecSchema.safeParse(job.data);
  if (!parsed.success)
    throw new UnrecoverableError(
      `worker ${me} rejected chunk ${job.id}: it is not a memlab-chunk/1 payload (${describeIssues(parsed.error)})`,
    );
  const spec = parsed.data;
  if (spec.ep !== config.ep)
    throw new UnrecoverableError(
      `worker ${me} runs onnxruntime on ${config.ep}, but this run asked for ${spec.ep}; results differ between execution providers, so they are never mixed. Start the run with --ep ${config.ep}, or workers with --ep ${spec.ep}.`,
    );
  const entry = config.catalog.find((m) => m.hash === spec.model.hash);
  if (!entry) {
    const same = config.catalog.filter((m) => m.id === spec.model.id);
    throw new UnrecoverableError(
      `worker ${me} refused the chunk: it does not hold ${describeModel(spec.model)}. ${
        same.length
          ? `It holds ${same.map(describeModel).join(', ')}: another version (its files differ).`
          : `It holds ${describeCatalog(config.catalog)}.`
      } Start workers with --models pointing at the same model files as the run.`,
    );
  }
  let model: NodeModel;
  try {
    model = await modelFor(entry);
  } catch (e) {
    const message = (e as Error).message;
    if (e instanceof ModelDirError || cudaHint(message))
      throw new UnrecoverableError(`worker ${me} cannot open ${describeModel(entry)}: ${message}${cudaHint(message)}`);
    throw e;
  }
  try {
    return await runChunk(model.runner, model.manifest, spec, encoderFor(entry, model), me);
  } catch (e) {
    if (e instanceof RangeError)
      throw new UnrecoverableError(`worker ${me} rejected chunk ${job.id}: ${(e as Error).message}`);
    throw e;
  }
}

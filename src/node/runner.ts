/**
 * ModelRunner over onnxruntime in Node: the native onnxruntime-node backend (the reference, used by
 * the CLI) or onnxruntime-web's WASM backend running in Node (to check the browser's numbers
 * without a browser). Loads a model directory through its manifest and refuses one whose manifest
 * or files do not check out, with a message that says which.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type * as OrtNode from 'onnxruntime-node';
import { type Manifest, type OrganismManifest, organism, parseManifest } from '../core/manifest';
import { trainIndexFromFiles, type TrainIndex } from '../core/metrics/replication';
import { missingUNetNames, textEncoderFeed, unetFeeds, unetFetches, unetOutputs } from '../core/feeds';
import type { ModelRunner, UNetFeeds, UNetOutputs, UNetWant } from '../core/pipeline';

export type Precision = 'int8' | 'fp32';
export type Backend = 'node' | 'wasm';
/** onnxruntime-node's execution provider: 'cuda' needs the CUDA build (docs/queue.md) */
export type ExecutionProvider = 'cpu' | 'cuda';

/** The part of the onnxruntime API both packages share (both re-export onnxruntime-common). */
export type Ort = Pick<typeof OrtNode, 'InferenceSession' | 'Tensor'>;
type Session = OrtNode.InferenceSession;
type Tensor = OrtNode.Tensor;

export interface NodeRunnerOptions {
  precision?: Precision;
  backend?: Backend;
  /** intra-op threads (node) or WASM threads (wasm); default 2 */
  threads?: number;
  /** node backend only; default 'cpu' */
  ep?: ExecutionProvider;
}

export interface NodeModel {
  dir: string;
  manifest: OrganismManifest;
  precision: Precision;
  backend: Backend;
  runner: ModelRunner;
  /** the onnxruntime module and raw sessions, for benchmarks that compare against a bare session.run loop */
  ort: Ort;
  sessions: { text: Session; unet: Session };
  release(): Promise<void>;
}

export class ModelDirError extends Error {
  override name = 'ModelDirError';
}

/** Reads and validates dir/manifest.json. */
/** The lab's own model directories (the organism and its kin); diffusers folders load through diffusers-runner. */
export async function readManifest(dir: string): Promise<OrganismManifest> {
  const path = join(dir, 'manifest.json');
  let raw: string;
  try {
    raw = await readFile(path, 'utf8');
  } catch {
    throw new ModelDirError(`no model at ${dir}: cannot read ${path}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (e) {
    throw new ModelDirError(`${path} is not valid JSON (${(e as Error).message})`);
  }
  const parsed = parseManifest(json);
  if (!parsed.ok)
    throw new ModelDirError(`${path} does not match the manifest schema:\n  ${parsed.problems.join('\n  ')}`);
  if (parsed.manifest.latent)
    throw new ModelDirError(`${path} describes a latent model; open its diffusers folder instead`);
  return organism(parsed.manifest);
}

/** Reads a model file, checking its size and sha256 against the manifest entry. */
export async function readModelFile(
  dir: string,
  entry: { path: string; bytes: number; sha256: string },
): Promise<Uint8Array> {
  const path = join(dir, entry.path);
  const size = await stat(path).then(
    (s) => s.size,
    () => {
      throw new ModelDirError(`${path} is missing (listed in manifest.json)`);
    },
  );
  if (size !== entry.bytes) {
    throw new ModelDirError(
      `${path} has ${size} bytes, manifest.json says ${entry.bytes}: incomplete or replaced file`,
    );
  }
  const bytes = new Uint8Array(await readFile(path));
  const digest = createHash('sha256').update(bytes).digest('hex');
  if (digest !== entry.sha256)
    throw new ModelDirError(`${path} does not match its sha256 in manifest.json: corrupt file`);
  return bytes;
}

async function loadOrt(backend: Backend, threads: number): Promise<Ort> {
  if (backend === 'node') return import('onnxruntime-node');
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = threads;
  return ort as unknown as Ort;
}

/** A ModelRunner over two open sessions of a model described by `manifest`. */
export function sessionRunner(ort: Ort, manifest: Manifest, text: Session, unet: Session): ModelRunner {
  const textInput = text.inputNames[0];
  const textOutput = text.outputNames[0];
  return {
    async encodeText(ids) {
      const { data, dims } = textEncoderFeed(manifest, ids);
      const out = await text.run({ [textInput]: new ort.Tensor('int64', data, dims) });
      return out[textOutput].data as Float32Array;
    },

    async runUNet(feeds: UNetFeeds, want: UNetWant): Promise<UNetOutputs> {
      const inputs: Record<string, Tensor> = {};
      for (const [name, f] of Object.entries(unetFeeds(manifest, feeds))) {
        inputs[name] = new ort.Tensor('float32', f.data, f.dims);
      }
      const out = await unet.run(inputs, unetFetches(manifest, want));
      return unetOutputs(manifest, want, (name) => out[name]?.data);
    },
  };
}

/** Opens a model directory: validated manifest, checked files, sessions at 'basic' graph optimisation. */
export async function loadNodeModel(dir: string, options: NodeRunnerOptions = {}): Promise<NodeModel> {
  const { precision = 'int8', backend = 'node', threads = 2, ep = 'cpu' } = options;
  const manifest = await readManifest(dir);
  const unetEntry = organism(manifest).files.unet[precision];
  if (!unetEntry) throw new ModelDirError(`${dir} ships no ${precision} UNet (try --precision int8)`);
  const [textBytes, unetBytes] = await Promise.all([
    readModelFile(dir, organism(manifest).files.textEncoder),
    readModelFile(dir, unetEntry),
  ]);
  const ort = await loadOrt(backend, threads);
  // 'basic': the default level fuses int8 MatMuls into kernels whose results differ from torch's.
  const sessionOptions: OrtNode.InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'basic',
    executionProviders: [backend === 'node' ? ep : 'wasm'],
    ...(backend === 'node' ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {}),
  };
  const text = await ort.InferenceSession.create(textBytes, sessionOptions);
  const unet = await ort.InferenceSession.create(unetBytes, sessionOptions);
  const missing = missingUNetNames(manifest, unet);
  if (missing.inputs.length > 0 || missing.outputs.length > 0) {
    await Promise.all([text.release(), unet.release()]);
    throw new ModelDirError(
      `${unetEntry.path} lacks inputs [${missing.inputs.join(', ')}] / outputs [${missing.outputs.join(', ')}] named in manifest.json`,
    );
  }
  return {
    dir,
    manifest,
    precision,
    backend,
    runner: sessionRunner(ort, manifest, text, unet),
    ort,
    sessions: { text, unet },
    async release() {
      await Promise.all([text.release(), unet.release()]);
    },
  };
}

/** The model's nearest-neighbour data: full-size planted images and the thumbnail index of every training image. */
export async function loadTrainIndex(dir: string, manifest: Manifest): Promise<TrainIndex> {
  const [memorized, index] = await Promise.all([
    readModelFile(dir, organism(manifest).files.memorizedImages),
    readModelFile(dir, organism(manifest).files.trainIndex),
  ]);
  return trainIndexFromFiles(manifest, memorized, index);
}

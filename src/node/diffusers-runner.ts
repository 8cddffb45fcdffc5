/**
 * A diffusers ONNX folder (Stable Diffusion 1.x/2.x and kin) on onnxruntime-node: the folder's
 * configs through core/diffusers/folder, and one session per graph, each created from its path
 * so that onnxruntime reads external weight files (weights.pb, model.onnx_data) itself; they are
 * never held in JS memory. Input types are taken from the graphs (int32 or int64 token ids; float
 * or integer timesteps), so exports from different tools run unchanged.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import {
  applyGraphLatentShape,
  DiffusersFolderError,
  type FolderReader,
  GRAPHS,
  type LatentModel,
  readDiffusersFolder,
} from '../core/diffusers/folder';
import type { ClipNormalization } from '../core/diffusers/clip-tokenizer';
import type { LatentRunner } from '../core/diffusers/latent-pipeline';
import { inputMetadata, sessionsRunner, tensorType } from '../core/diffusers/sessions-runner';
import { type LabUNet, type LabUNetOptions, openLabUNet } from './lab-unet';

type Session = ort.InferenceSession;
type ValueMetadata = Session['inputMetadata'][number];

export interface DiffusersRunnerOptions {
  /** intra-op threads; default 2 */
  threads?: number;
  normalization?: ClipNormalization;
  /** onnxruntime graph optimisation; 'basic' (default) keeps results closest to the exporting framework */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** extra UNet outputs to fetch as cross-attention, per layer (an instrumented UNet) */
  attentionOutputs?: string[];
  /**
   * Run the UNet with the lab's mask inputs (./lab-unet.ts): the folder's instrumented graph, or
   * the plain one instrumented on load. Default false: the graph as the folder has it.
   */
  instrument?: LabUNetOptions | false;
}

export interface DiffusersNodeModel {
  dir: string;
  model: LatentModel;
  runner: LatentRunner;
  sessions: { text: Session; unet: Session; vae: Session };
  /** with `instrument`: the lab's description of the UNet (masks, blocks) and where it came from */
  lab?: Omit<LabUNet, 'session'>;
  release(): Promise<void>;
}

/** A FolderReader over a directory on disk. */
export function directoryReader(dir: string): FolderReader {
  return {
    async readText(path) {
      try {
        return await readFile(join(dir, path), 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw e;
      }
    },
    async has(path) {
      return stat(join(dir, path)).then(
        (s) => s.isFile(),
        () => false,
      );
    },
  };
}

function openSession(dir: string, graph: string, options: ort.InferenceSession.SessionOptions): Promise<Session> {
  return sessionAt(join(dir, graph), graph, options);
}

/** A session over the graph file at `path`, reported as `graph` of the folder when it fails. */
async function sessionAt(path: string, graph: string, options: ort.InferenceSession.SessionOptions): Promise<Session> {
  try {
    return await ort.InferenceSession.create(path, options);
  } catch (e) {
    throw new DiffusersFolderError(
      `${graph} could not be loaded by onnxruntime (${(e as Error).message.trim()}). A graph that keeps its ` +
        'weights in a separate file (weights.pb, model.onnx_data) needs that file beside it.',
    );
  }
}

function refuseHalfPrecision(graph: string, m: ValueMetadata): void {
  if (tensorType(m) === 'float16') {
    throw new DiffusersFolderError(
      `${graph} computes in float16, which onnxruntime-node's CPU provider cannot run for these graphs; ` +
        'use a float32 export of the model (the browser lab runs float16 on WebGPU with shader-f16)',
    );
  }
}

/** Opens a diffusers ONNX folder for the latent pipeline; throws DiffusersFolderError naming what is wrong. */
export async function loadDiffusersFolder(
  dir: string,
  options: DiffusersRunnerOptions = {},
): Promise<DiffusersNodeModel> {
  const { threads = 2, optimization = 'basic' } = options;
  const model = await readDiffusersFolder(directoryReader(dir), { normalization: options.normalization });
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: optimization,
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
  };
  // the UNet first: a graph the instrumenter refuses fails before the other sessions start
  let lab: LabUNet | undefined;
  if (options.instrument) {
    lab = await openLabUNet(dir, (path) => sessionAt(path, GRAPHS.unet, sessionOptions), options.instrument);
  }
  const unet = lab?.session ?? (await openSession(dir, GRAPHS.unet, sessionOptions));
  const text = await openSession(dir, GRAPHS.textEncoder, sessionOptions).catch(async (e) => {
    await unet.release();
    throw e;
  });
  const vae = await openSession(dir, GRAPHS.vaeDecoder, sessionOptions).catch(async (e) => {
    await Promise.all([text.release(), unet.release()]);
    throw e;
  });
  try {
    const sampleMeta = inputMetadata(unet, 'sample', GRAPHS.unet);
    refuseHalfPrecision(GRAPHS.unet, sampleMeta);
    refuseHalfPrecision(GRAPHS.vaeDecoder, inputMetadata(vae, 'latent_sample', GRAPHS.vaeDecoder));
    applyGraphLatentShape(model, sampleMeta.isTensor ? sampleMeta.shape : []);
    const captured = lab?.description.captures ? lab.description.layers.map((l) => l.crossAttentionOutput) : undefined;
    const attentionOutputs = options.attentionOutputs ?? captured;
    const valueOutput = lab?.description.captures ? lab.description.valueOutput : undefined;
    const runner = sessionsRunner(ort.Tensor, { text, unet, vae }, { attentionOutputs, valueOutput });
    return {
      dir,
      model,
      runner,
      sessions: { text, unet, vae },
      ...(lab ? { lab: { description: lab.description, instrumented: lab.instrumented } } : {}),
      async release() {
        await Promise.all([text.release(), unet.release(), vae.release()]);
      },
    };
  } catch (e) {
    await Promise.all([text.release(), unet.release(), vae.release()]);
    throw e;
  }
}

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
import type { LatentRunner, LatentUNetFeeds } from '../core/diffusers/latent-pipeline';
import type { UNetOutputs, UNetWant } from '../core/pipeline';

type Session = ort.InferenceSession;
type Tensor = ort.Tensor;
type ValueMetadata = Session['inputMetadata'][number];

export interface DiffusersRunnerOptions {
  /** intra-op threads; default 2 */
  threads?: number;
  normalization?: ClipNormalization;
  /** onnxruntime graph optimisation; 'basic' (default) keeps results closest to the exporting framework */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** extra UNet outputs to fetch as cross-attention, per layer (an instrumented UNet) */
  attentionOutputs?: string[];
}

export interface DiffusersNodeModel {
  dir: string;
  model: LatentModel;
  runner: LatentRunner;
  sessions: { text: Session; unet: Session; vae: Session };
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

function metadata(session: Session, name: string, graph: string): ValueMetadata {
  const found = session.inputMetadata.find((m) => m.name === name);
  if (!found) {
    throw new DiffusersFolderError(
      `${graph} has no input "${name}" (its inputs: ${session.inputNames.join(', ')}); is it a diffusers export?`,
    );
  }
  return found;
}

const tensorType = (m: ValueMetadata) => (m.isTensor ? m.type : 'not a tensor');

async function openSession(dir: string, graph: string, options: ort.InferenceSession.SessionOptions): Promise<Session> {
  try {
    return await ort.InferenceSession.create(join(dir, graph), options);
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

/** Timesteps in the graph's type and shape: a shared [1] or scalar timestep gets one value. */
export function timestepTensor(m: ValueMetadata, values: Float32Array): Tensor {
  const dims = m.isTensor ? m.shape : [];
  const shared = dims.length === 0 || (dims.length === 1 && dims[0] === 1);
  const data = shared ? values.subarray(0, 1) : values;
  const shape = dims.length === 0 ? [] : [data.length];
  const type = tensorType(m);
  // numpy's astype truncates, as diffusers' ONNX pipeline casts fractional timesteps
  if (type === 'int64')
    return new ort.Tensor(
      'int64',
      BigInt64Array.from(data, (t) => BigInt(Math.trunc(t))),
      shape,
    );
  if (type === 'int32') return new ort.Tensor('int32', Int32Array.from(data, Math.trunc), shape);
  if (type === 'float32') return new ort.Tensor('float32', Float32Array.from(data), shape);
  throw new DiffusersFolderError(`unet/model.onnx takes its timestep as ${type}, which the lab cannot feed`);
}

function firstOutput(session: Session, preferred: string): string {
  return session.outputNames.includes(preferred) ? preferred : session.outputNames[0];
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
  const text = await openSession(dir, GRAPHS.textEncoder, sessionOptions);
  const unet = await openSession(dir, GRAPHS.unet, sessionOptions);
  const vae = await openSession(dir, GRAPHS.vaeDecoder, sessionOptions);
  try {
    const idsMeta = metadata(text, 'input_ids', GRAPHS.textEncoder);
    const sampleMeta = metadata(unet, 'sample', GRAPHS.unet);
    const timestepMeta = metadata(unet, 'timestep', GRAPHS.unet);
    metadata(unet, 'encoder_hidden_states', GRAPHS.unet);
    const latentMeta = metadata(vae, 'latent_sample', GRAPHS.vaeDecoder);
    refuseHalfPrecision(GRAPHS.unet, sampleMeta);
    refuseHalfPrecision(GRAPHS.vaeDecoder, latentMeta);
    const idsType = tensorType(idsMeta);
    if (idsType !== 'int32' && idsType !== 'int64') {
      throw new DiffusersFolderError(`${GRAPHS.textEncoder} takes input_ids as ${idsType}, not as integers`);
    }
    applyGraphLatentShape(model, sampleMeta.isTensor ? sampleMeta.shape : []);
    const missingOutputs = (options.attentionOutputs ?? []).filter((n) => !unet.outputNames.includes(n));
    if (missingOutputs.length) {
      throw new DiffusersFolderError(`${GRAPHS.unet} has no output(s) ${missingOutputs.join(', ')}`);
    }
    const runner = sessionsRunner(
      { text, unet, vae },
      {
        idsType,
        timestepMeta,
        textOutput: firstOutput(text, 'last_hidden_state'),
        noiseOutput: firstOutput(unet, 'out_sample'),
        imageOutput: firstOutput(vae, 'sample'),
        attentionOutputs: options.attentionOutputs ?? [],
      },
    );
    return {
      dir,
      model,
      runner,
      sessions: { text, unet, vae },
      async release() {
        await Promise.all([text.release(), unet.release(), vae.release()]);
      },
    };
  } catch (e) {
    await Promise.all([text.release(), unet.release(), vae.release()]);
    throw e;
  }
}

interface Wiring {
  idsType: 'int32' | 'int64';
  timestepMeta: ValueMetadata;
  textOutput: string;
  noiseOutput: string;
  imageOutput: string;
  attentionOutputs: string[];
}

function sessionsRunner(sessions: { text: Session; unet: Session; vae: Session }, wiring: Wiring): LatentRunner {
  const { text, unet, vae } = sessions;
  return {
    async encodeText(ids, batch) {
      const dims = [batch, ids.length / batch];
      const input =
        wiring.idsType === 'int32'
          ? new ort.Tensor('int32', ids, dims)
          : new ort.Tensor(
              'int64',
              BigInt64Array.from(ids, (v) => BigInt(v)),
              dims,
            );
      const out = await text.run({ input_ids: input });
      return out[wiring.textOutput].data as Float32Array;
    },

    async runUNet(feeds: LatentUNetFeeds, want: UNetWant): Promise<UNetOutputs> {
      const { batch, latent } = feeds;
      const width = feeds.context.length / batch / feeds.contextTokens;
      const inputs: Record<string, Tensor> = {
        sample: new ort.Tensor('float32', feeds.sample, [batch, latent.channels, latent.height, latent.width]),
        timestep: timestepTensor(wiring.timestepMeta, feeds.timestep),
        encoder_hidden_states: new ort.Tensor('float32', feeds.context, [batch, feeds.contextTokens, width]),
      };
      for (const [name, scales] of Object.entries(feeds.masks)) {
        const meta = unet.inputMetadata.find((m) => m.name === name);
        if (!meta) throw new Error(`${GRAPHS.unet} has no mask input "${name}"`);
        const dims = meta.isTensor ? meta.shape.slice(1) : [];
        const fixed = dims.length > 0 && dims.every((d) => typeof d === 'number');
        inputs[name] = new ort.Tensor('float32', scales, [
          batch,
          ...(fixed ? (dims as number[]) : [scales.length / batch]),
        ]);
      }
      const fetches = [wiring.noiseOutput, ...(want.attention ? wiring.attentionOutputs : [])];
      const out = await unet.run(inputs, fetches);
      const result: UNetOutputs = { noise: out[wiring.noiseOutput].data as Float32Array };
      if (want.attention) result.crossAttention = wiring.attentionOutputs.map((n) => out[n].data as Float32Array);
      return result;
    },

    async decodeLatents(latents, batch, latent) {
      // one image per call, as diffusers' ONNX pipeline decodes
      const n = latents.length / batch;
      const images: Float32Array[] = [];
      for (let k = 0; k < batch; k++) {
        const input = new ort.Tensor('float32', latents.slice(k * n, (k + 1) * n), [
          1,
          latent.channels,
          latent.height,
          latent.width,
        ]);
        const out = await vae.run({ latent_sample: input });
        images.push(out[wiring.imageOutput].data as Float32Array);
      }
      const all = new Float32Array(images.reduce((s, i) => s + i.length, 0));
      let offset = 0;
      for (const img of images) {
        all.set(img, offset);
        offset += img.length;
      }
      return all;
    },
  };
}

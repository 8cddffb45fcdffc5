/**
 * The LatentRunner over three onnxruntime sessions (text encoder, UNet, VAE decoder), written once
 * for onnxruntime-node and onnxruntime-web: both implement onnxruntime-common's session and tensor
 * interfaces, so the caller passes its own Tensor constructor and the wiring is shared.
 *
 * Input types come from the graphs (int32 or int64 token ids; float or integer timesteps, shared or
 * per row), so exports from different tools run unchanged.
 */
import type { InferenceSession, Tensor } from 'onnxruntime-common';
import type { UNetOutputs, UNetWant } from '../pipeline';
import { DiffusersFolderError, GRAPHS } from './folder';
import type { LatentRunner, LatentUNetFeeds } from './latent-pipeline';

export type ValueMetadata = InferenceSession['inputMetadata'][number];
type TensorData = Float32Array | Int32Array | BigInt64Array | Uint16Array;
/** onnxruntime's Tensor constructor (onnxruntime-node's or onnxruntime-web's) */
export type TensorFactory = new (type: Tensor.Type, data: TensorData, dims: readonly number[]) => Tensor;

export interface LatentSessions {
  text: InferenceSession;
  unet: InferenceSession;
  vae: InferenceSession;
}

export const tensorType = (m: ValueMetadata): string => (m.isTensor ? m.type : 'not a tensor');

export function inputMetadata(session: InferenceSession, name: string, graph: string): ValueMetadata {
  const found = session.inputMetadata.find((m) => m.name === name);
  if (!found) {
    throw new DiffusersFolderError(
      `${graph} has no input "${name}" (its inputs: ${session.inputNames.join(', ')}); is it a diffusers export?`,
    );
  }
  return found;
}

/** Timesteps in the graph's type and shape: a shared [1] or scalar timestep gets one value. */
export function timestepTensor(T: TensorFactory, m: ValueMetadata, values: Float32Array): Tensor {
  const dims = m.isTensor ? m.shape : [];
  const shared = dims.length === 0 || (dims.length === 1 && dims[0] === 1);
  const data = shared ? values.subarray(0, 1) : values;
  const shape = dims.length === 0 ? [] : [data.length];
  const type = tensorType(m);
  // numpy's astype truncates, as diffusers' ONNX pipeline casts fractional timesteps
  if (type === 'int64')
    return new T(
      'int64',
      BigInt64Array.from(data, (t) => BigInt(Math.trunc(t))),
      shape,
    );
  if (type === 'int32') return new T('int32', Int32Array.from(data, Math.trunc), shape);
  if (type === 'float32') return new T('float32', Float32Array.from(data), shape);
  throw new DiffusersFolderError(`${GRAPHS.unet} takes its timestep as ${type}, which the lab cannot feed`);
}

function firstOutput(session: InferenceSession, preferred: string): string {
  return session.outputNames.includes(preferred) ? preferred : session.outputNames[0];
}

export interface SessionsRunnerOptions {
  /** extra UNet outputs to fetch as cross-attention, per layer (an instrumented UNet) */
  attentionOutputs?: string[];
  /** the UNet output with the cross-attention value projections (an instrumented UNet), for NeMo */
  valueOutput?: string;
  /**
   * The text context's tensor, when it can stay where the UNet runs (a GPU buffer on WebGPU, kept
   * while the values do not change; gpu/resident-input.ts); a CPU tensor per call otherwise.
   */
  contextTensor?: (values: Float32Array, dims: readonly number[]) => Tensor;
}

/**
 * Checks the three graphs against what the pipeline feeds them and returns the runner. Throws
 * DiffusersFolderError naming the graph and the input that does not fit.
 */
export function sessionsRunner(
  T: TensorFactory,
  sessions: LatentSessions,
  options: SessionsRunnerOptions = {},
): LatentRunner {
  const { text, unet, vae } = sessions;
  const idsMeta = inputMetadata(text, 'input_ids', GRAPHS.textEncoder);
  const timestepMeta = inputMetadata(unet, 'timestep', GRAPHS.unet);
  inputMetadata(unet, 'sample', GRAPHS.unet);
  inputMetadata(unet, 'encoder_hidden_states', GRAPHS.unet);
  inputMetadata(vae, 'latent_sample', GRAPHS.vaeDecoder);
  const idsType = tensorType(idsMeta);
  if (idsType !== 'int32' && idsType !== 'int64') {
    throw new DiffusersFolderError(`${GRAPHS.textEncoder} takes input_ids as ${idsType}, not as integers`);
  }
  const attentionOutputs = options.attentionOutputs ?? [];
  const { valueOutput } = options;
  const contextTensor =
    options.contextTensor ?? ((values: Float32Array, dims: readonly number[]) => new T('float32', values, dims));
  const missing = [...attentionOutputs, ...(valueOutput ? [valueOutput] : [])].filter(
    (n) => !unet.outputNames.includes(n),
  );
  if (missing.length) throw new DiffusersFolderError(`${GRAPHS.unet} has no output(s) ${missing.join(', ')}`);
  const textOutput = firstOutput(text, 'last_hidden_state');
  const noiseOutput = firstOutput(unet, 'out_sample');
  const imageOutput = firstOutput(vae, 'sample');
  const floats = (t: Tensor | undefined) => {
    if (!t || !(t.data instanceof Float32Array)) throw new Error('the model returned no float32 output');
    return t.data;
  };

  return {
    async encodeText(ids, batch) {
      const dims = [batch, ids.length / batch];
      const input =
        idsType === 'int32'
          ? new T('int32', ids, dims)
          : new T(
              'int64',
              BigInt64Array.from(ids, (v) => BigInt(v)),
              dims,
            );
      const out = await text.run({ input_ids: input });
      return floats(out[textOutput]);
    },

    async runUNet(feeds: LatentUNetFeeds, want: UNetWant): Promise<UNetOutputs> {
      const { batch, latent } = feeds;
      const width = feeds.context.length / batch / feeds.contextTokens;
      const inputs: Record<string, Tensor> = {
        sample: new T('float32', feeds.sample, [batch, latent.channels, latent.height, latent.width]),
        timestep: timestepTensor(T, timestepMeta, feeds.timestep),
        encoder_hidden_states: contextTensor(feeds.context, [batch, feeds.contextTokens, width]),
      };
      for (const [name, scales] of Object.entries(feeds.masks)) {
        const meta = unet.inputMetadata.find((m) => m.name === name);
        if (!meta) throw new Error(`${GRAPHS.unet} has no mask input "${name}"`);
        const dims = meta.isTensor ? meta.shape.slice(1) : [];
        const fixed = dims.length > 0 && dims.every((d) => typeof d === 'number');
        inputs[name] = new T('float32', scales, [batch, ...(fixed ? (dims as number[]) : [scales.length / batch])]);
      }
      // Ask only for what is wanted: every extra output is a read-back (and on WebGPU a copy).
      if (want.values && !valueOutput) throw new Error(`${GRAPHS.unet} was opened without its value output`);
      const fetches = [
        noiseOutput,
        ...(want.attention ? attentionOutputs : []),
        ...(want.values && valueOutput ? [valueOutput] : []),
      ];
      const out = await unet.run(inputs, fetches);
      const result: UNetOutputs = { noise: floats(out[noiseOutput]) };
      if (want.attention) result.crossAttention = attentionOutputs.map((n) => floats(out[n]));
      if (want.values && valueOutput) result.values = floats(out[valueOutput]);
      return result;
    },

    async decodeLatents(latents, batch, latent) {
      // one image per call, as diffusers' ONNX pipeline decodes (and the smallest peak memory)
      const n = latents.length / batch;
      const images: Float32Array[] = [];
      for (let k = 0; k < batch; k++) {
        const input = new T('float32', latents.slice(k * n, (k + 1) * n), [
          1,
          latent.channels,
          latent.height,
          latent.width,
        ]);
        const out = await vae.run({ latent_sample: input });
        images.push(floats(out[imageOutput]));
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

/**
 * The onnxruntime-web ModelRunner: owns the text-encoder and UNet sessions inside the inference
 * worker. Mask inputs are ordinary feeds, so pruning changes per run on the same session.
 */
import type { InferenceSession, Tensor } from 'onnxruntime-web';
import type { Manifest } from '../core/manifest';
import type { ModelRunner, UNetFeeds, UNetOutputs, UNetWant } from '../core/pipeline';
import type { BackendChoice } from './backend';
import type { Ort } from './ort';

export interface ModelBytes {
  textEncoder: ArrayBuffer;
  unet: ArrayBuffer;
}

/** Flatten either id layout the pipeline may pass into int64 rows of length T. */
export function toInt64Ids(ids: Int32Array | number[][], tokens: number): { data: BigInt64Array; batch: number } {
  const flat = ids instanceof Int32Array ? Array.from(ids) : ids.flat();
  if (flat.length === 0 || flat.length % tokens !== 0) {
    throw new Error(`token ids: expected rows of ${tokens}, got ${flat.length} ids`);
  }
  return { data: BigInt64Array.from(flat, (v) => BigInt(v)), batch: flat.length / tokens };
}

export class OrtRunner implements ModelRunner {
  private constructor(
    private readonly ort: Ort,
    private readonly manifest: Manifest,
    private readonly text: InferenceSession,
    private readonly unet: InferenceSession,
  ) {}

  static async create(ort: Ort, manifest: Manifest, bytes: ModelBytes, choice: BackendChoice): Promise<OrtRunner> {
    const options: InferenceSession.SessionOptions = {
      executionProviders: [choice.backend],
      // 'basic' matches the Node reference: 'all' fuses the int8 MatMuls and moves the results.
      graphOptimizationLevel: 'basic',
    };
    const text = await ort.InferenceSession.create(new Uint8Array(bytes.textEncoder), options);
    try {
      const unet = await ort.InferenceSession.create(new Uint8Array(bytes.unet), options);
      return new OrtRunner(ort, manifest, text, unet);
    } catch (err) {
      await text.release();
      throw err;
    }
  }

  async encodeText(ids: Int32Array | number[][]): Promise<Float32Array> {
    const { data, batch } = toInt64Ids(ids, this.manifest.text.maxTokens);
    const input = new this.ort.Tensor('int64', data, [batch, this.manifest.text.maxTokens]);
    const out = await this.text.run({ [this.text.inputNames[0]]: input });
    return floats(out[this.text.outputNames[0]]);
  }

  async runUNet(feeds: UNetFeeds, want: UNetWant): Promise<UNetOutputs> {
    const m = this.manifest;
    const b = feeds.batch;
    const { Tensor: T } = this.ort;
    const inputs: Record<string, Tensor> = {
      [m.unet.inputs.sample]: new T('float32', feeds.sample, [b, m.image.channels, m.image.height, m.image.width]),
      [m.unet.inputs.timestep]: new T('float32', feeds.timestep, [b]),
      [m.unet.inputs.context]: new T('float32', feeds.context, [b, m.text.maxTokens, m.text.width]),
    };
    for (const spec of m.unet.masks) {
      const mask = feeds.masks[spec.name];
      if (!mask) throw new Error(`UNet mask input ${spec.name} is missing`);
      inputs[spec.name] = new T('float32', mask, [b, spec.layers, spec.units]);
    }
    // Ask only for what is wanted: on WebGPU every extra output is a GPU->CPU read-back.
    const fetches = [m.unet.noiseOutput];
    if (want.attention) fetches.push(...m.unet.layers.map((l) => l.crossAttentionOutput));
    if (want.values) fetches.push(m.unet.valueOutput);

    const out = await this.unet.run(inputs, fetches);
    const result: UNetOutputs = { noise: await floats(out[m.unet.noiseOutput]) };
    if (want.attention) {
      result.crossAttention = await Promise.all(m.unet.layers.map((l) => floats(out[l.crossAttentionOutput])));
    }
    if (want.values) result.values = await floats(out[m.unet.valueOutput]);
    return result;
  }

  /**
   * The UNet session and the ORT module behind this runner, for benchmarks that compare the
   * pipeline against a bare session.run loop on the very same session. Not for generation.
   */
  get bare(): { ort: Ort; unet: InferenceSession } {
    return { ort: this.ort, unet: this.unet };
  }

  async release(): Promise<void> {
    await Promise.allSettled([this.text.release(), this.unet.release()]);
  }
}

async function floats(t: Tensor | undefined): Promise<Float32Array> {
  if (!t) throw new Error('the model did not return an expected output');
  const data = await t.getData(true);
  if (!(data instanceof Float32Array)) throw new Error(`expected a float32 output, got ${t.type}`);
  return data;
}

/**
 * The onnxruntime-web ModelRunner: owns the text-encoder and UNet sessions inside the inference
 * worker. Mask inputs are ordinary feeds, so pruning changes per run on the same session.
 */
import type { InferenceSession, Tensor } from 'onnxruntime-web';
import { floatOutput, missingUNetNames, textEncoderFeed, unetFeeds, unetFetches, unetOutputs } from '../core/feeds';
import type { Manifest } from '../core/manifest';
import type { ModelRunner, UNetFeeds, UNetOutputs, UNetWant } from '../core/pipeline';
import type { BackendChoice } from './backend';
import type { Ort } from './ort';

export interface ModelBytes {
  textEncoder: ArrayBuffer;
  unet: ArrayBuffer;
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
      // WASM threads that spin between kernels take the cores the page needs to draw: on 2 loaded
      // cores a UNet step took 20-40% less wall time without spinning (same bits either way).
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    };
    const text = await ort.InferenceSession.create(new Uint8Array(bytes.textEncoder), options);
    try {
      const unet = await ort.InferenceSession.create(new Uint8Array(bytes.unet), options);
      const missing = missingUNetNames(manifest, unet);
      if (missing.inputs.length > 0 || missing.outputs.length > 0) {
        await unet.release();
        throw new Error(
          `the UNet lacks inputs [${missing.inputs.join(', ')}] / outputs [${missing.outputs.join(', ')}] named in manifest.json`,
        );
      }
      return new OrtRunner(ort, manifest, text, unet);
    } catch (err) {
      await text.release();
      throw err;
    }
  }

  async encodeText(ids: Int32Array | number[][]): Promise<Float32Array> {
    const { data, dims } = textEncoderFeed(this.manifest, ids);
    const out = await this.text.run({ [this.text.inputNames[0]]: new this.ort.Tensor('int64', data, dims) });
    const name = this.text.outputNames[0];
    return floatOutput(name, await out[name]?.getData(true));
  }

  async runUNet(feeds: UNetFeeds, want: UNetWant): Promise<UNetOutputs> {
    const inputs: Record<string, Tensor> = {};
    for (const [name, f] of Object.entries(unetFeeds(this.manifest, feeds))) {
      inputs[name] = new this.ort.Tensor('float32', f.data, f.dims);
    }
    const fetches = unetFetches(this.manifest, want);
    const out = await this.unet.run(inputs, fetches);
    // getData(true) reads a GPU-resident output back (and frees it); CPU outputs come as they are.
    const data = await Promise.all(fetches.map((name) => out[name]?.getData(true)));
    return unetOutputs(this.manifest, want, (name) => data[fetches.indexOf(name)]);
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

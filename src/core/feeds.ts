/**
 * What an ONNX runtime is given and asked for, built from the manifest alone: the text encoder's
 * int64 ids, the UNet's named inputs with their shapes (masks included, each checked), the outputs
 * to fetch and how they become UNetOutputs. Every runner (onnxruntime-web in the worker,
 * onnxruntime-node in the CLI) wraps these plain arrays in its own Tensor type, so the two cannot
 * drift apart. Pure and DOM-free.
 */
import type { Manifest } from './manifest';
import type { UNetFeeds, UNetOutputs, UNetWant } from './pipeline';

/** One input as data plus its shape, ready to become a runtime's Tensor. */
export interface FeedArray<D> {
  data: D;
  dims: number[];
}

/** Flat [b*T] ids or one row per prompt -> int64 rows of the model's token length. */
export function textEncoderFeed(manifest: Manifest, ids: Int32Array | number[][]): FeedArray<BigInt64Array> {
  const tokens = manifest.text.maxTokens;
  const flat = ids instanceof Int32Array ? Array.from(ids) : ids.flat();
  if (flat.length === 0 || flat.length % tokens !== 0) {
    throw new Error(`token ids: expected rows of ${tokens}, got ${flat.length} ids`);
  }
  const batch = flat.length / tokens;
  return { data: BigInt64Array.from(flat, (v) => BigInt(v)), dims: [batch, tokens] };
}

function sized(name: string, data: Float32Array | undefined, dims: number[]): FeedArray<Float32Array> {
  if (!data) throw new Error(`UNet input ${name} is missing`);
  const expected = dims.reduce((a, b) => a * b, 1);
  if (data.length !== expected) {
    throw new Error(`UNet input ${name} has ${data.length} values, expected ${dims.join(' x ')} = ${expected}`);
  }
  return { data, dims };
}

/** Every UNet input by its manifest name: sample, timestep, context and one [b, layers, units] per mask. */
export function unetFeeds(manifest: Manifest, feeds: UNetFeeds): Record<string, FeedArray<Float32Array>> {
  const { image, text, unet } = manifest;
  const b = feeds.batch;
  const out: Record<string, FeedArray<Float32Array>> = {
    [unet.inputs.sample]: sized(unet.inputs.sample, feeds.sample, [b, image.channels, image.height, image.width]),
    [unet.inputs.timestep]: sized(unet.inputs.timestep, feeds.timestep, [b]),
    [unet.inputs.context]: sized(unet.inputs.context, feeds.context, [b, text.maxTokens, text.width]),
  };
  for (const spec of unet.masks)
    out[spec.name] = sized(spec.name, feeds.masks[spec.name], [b, spec.layers, spec.units]);
  return out;
}

/** The outputs to fetch: only what is wanted (on WebGPU every extra output is a GPU->CPU read-back). */
export function unetFetches(manifest: Manifest, want: UNetWant): string[] {
  const u = manifest.unet;
  const fetches = [u.noiseOutput];
  if (want.attention) fetches.push(...u.layers.map((l) => l.crossAttentionOutput));
  if (want.values) fetches.push(u.valueOutput);
  return fetches;
}

/** A fetched output's data as float32, or a message naming the output that is missing or of another type. */
export function floatOutput(name: string, data: unknown): Float32Array {
  if (data === undefined) throw new Error(`the model did not return its output ${name}`);
  if (!(data instanceof Float32Array)) throw new Error(`the model's output ${name} is not float32`);
  return data;
}

/** UNetOutputs from the fetched outputs' data, by name. */
export function unetOutputs(manifest: Manifest, want: UNetWant, data: (name: string) => unknown): UNetOutputs {
  const u = manifest.unet;
  const result: UNetOutputs = { noise: floatOutput(u.noiseOutput, data(u.noiseOutput)) };
  if (want.attention) {
    result.crossAttention = u.layers.map((l) => floatOutput(l.crossAttentionOutput, data(l.crossAttentionOutput)));
  }
  if (want.values) result.values = floatOutput(u.valueOutput, data(u.valueOutput));
  return result;
}

/** Inputs and outputs the manifest names that a UNet session lacks (empty lists: it fits). */
export function missingUNetNames(
  manifest: Manifest,
  session: { inputNames: readonly string[]; outputNames: readonly string[] },
): { inputs: string[]; outputs: string[] } {
  const u = manifest.unet;
  const inputs = [u.inputs.sample, u.inputs.timestep, u.inputs.context, ...u.masks.map((m) => m.name)];
  const outputs = [u.noiseOutput, ...u.layers.map((l) => l.crossAttentionOutput), u.valueOutput];
  return {
    inputs: inputs.filter((n) => !session.inputNames.includes(n)),
    outputs: outputs.filter((n) => !session.outputNames.includes(n)),
  };
}

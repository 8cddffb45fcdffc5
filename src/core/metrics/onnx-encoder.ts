/**
 * An ImageEncoder over an ONNX image model the user supplies: SSCD (the copy-detection network
 * Somepalli, Webster and NeMo use) or a CLIP image encoder, exported to ONNX. The model takes one
 * NCHW float input and gives one vector per image.
 *
 * The session comes from outside (onnxruntime-node in the CLI, onnxruntime-web in the browser), so
 * this file stays pure: it only builds the input tensor (resize, scale to 0..1, subtract mean,
 * divide by std, as torchvision's ToTensor + Normalize) and reads the output back.
 */
import { type Crop, type ImageEncoder, type RgbImage, centreCrop, checkRgbImage, resampleRgb } from './embedding';

/** The part of an onnxruntime InferenceSession this needs (both runtimes' sessions fit it). */
export interface EmbeddingSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(
    feeds: Record<string, unknown>,
  ): Promise<Record<string, { readonly dims: readonly number[]; readonly data: unknown }>>;
}

/** Makes a float32 tensor of the runtime in use (e.g. (d, dims) => new ort.Tensor('float32', d, dims)). */
export type Float32TensorFactory = (data: Float32Array, dims: number[]) => unknown;

export type Triple = [number, number, number];

export interface ImagePreprocessing {
  /** input width and height of the model */
  width: number;
  height: number;
  /** per-channel mean and std applied to values in 0..1 */
  mean: Triple;
  std: Triple;
  /** 'stretch' resizes the whole image; 'centre-crop' cuts the centre to the input's aspect ratio first (CLIP) */
  fit: 'stretch' | 'centre-crop';
}

export interface OnnxEncoderOptions extends ImagePreprocessing {
  /** reported with every similarity */
  id: string;
  /** input to feed (default: the model's first) */
  input?: string;
  /** output to read (default: the first whose shape is [batch, dim], else the first with batch rows) */
  output?: string;
  /** images per run (default 16; 1 for models exported with a fixed batch of one) */
  maxBatch?: number;
  /** the similarity above which a pair counts as a copy, if the model has a convention */
  threshold?: number;
}

const IMAGENET: Pick<ImagePreprocessing, 'mean' | 'std'> = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

/**
 * Preprocessing of the two model families the field uses. SSCD: ImageNet normalisation, a square
 * input (its authors' fixed-size example is 320 x 320, stretched); copy at cosine > 0.5
 * (Somepalli et al.). CLIP ViT-B: 224 x 224 centre crop with CLIP's own mean and std; no copy
 * convention, so calibrate a threshold.
 */
export const ENCODER_PRESETS = {
  sscd: { width: 320, height: 320, ...IMAGENET, fit: 'stretch', threshold: 0.5 },
  clip: {
    width: 224,
    height: 224,
    mean: [0.48145466, 0.4578275, 0.40821073],
    std: [0.26862954, 0.26130258, 0.27577711],
    fit: 'centre-crop',
  },
} satisfies Record<string, ImagePreprocessing & { threshold?: number }>;

/** One image as the model's input rows: CHW float, (v / 255 - mean) / std. */
export function preprocessImage(image: RgbImage, p: ImagePreprocessing, out?: Float32Array): Float32Array {
  checkRgbImage(image);
  const crop: Crop | undefined =
    p.fit === 'centre-crop' ? centreCrop(image.width, image.height, p.width, p.height) : undefined;
  const hwc = resampleRgb(image, p.width, p.height, crop);
  const plane = p.width * p.height;
  const chw = out ?? new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const scale = 1 / (255 * p.std[c]);
    const shift = p.mean[c] / p.std[c];
    for (let i = 0; i < plane; i++) chw[c * plane + i] = hwc[3 * i + c] * scale - shift;
  }
  return chw;
}

/** Which output holds the embedding, given the shapes of one run with `batch` images. */
export function pickEmbeddingOutput(
  outputs: Record<string, { readonly dims: readonly number[] }>,
  order: readonly string[],
  batch: number,
  wanted?: string,
): string {
  if (wanted !== undefined) {
    if (!(wanted in outputs))
      throw new Error(`the embedding model has no output "${wanted}" (it has: ${order.join(', ')})`);
    return wanted;
  }
  const withRows = order.filter((n) => outputs[n]?.dims[0] === batch);
  const flat = withRows.find((n) => outputs[n].dims.length === 2);
  const chosen = flat ?? withRows[0];
  if (!chosen) throw new Error(`no output of the embedding model has one row per image (outputs: ${order.join(', ')})`);
  return chosen;
}

export function onnxImageEncoder(
  session: EmbeddingSession,
  tensor: Float32TensorFactory,
  options: OnnxEncoderOptions,
): ImageEncoder {
  const input = options.input ?? session.inputNames[0];
  if (!session.inputNames.includes(input))
    throw new Error(`the embedding model has no input "${input}" (it has: ${session.inputNames.join(', ')})`);
  const maxBatch = options.maxBatch ?? 16;
  const plane = 3 * options.width * options.height;
  return {
    id: options.id,
    description: `ONNX image embedding ${options.id} at ${options.width}x${options.height} (${options.fit})`,
    ...(options.threshold !== undefined ? { threshold: options.threshold } : {}),
    async embed(images) {
      const vectors: Float32Array[] = [];
      for (let start = 0; start < images.length; start += maxBatch) {
        const chunk = images.slice(start, start + maxBatch);
        const data = new Float32Array(chunk.length * plane);
        chunk.forEach((img, i) => preprocessImage(img, options, data.subarray(i * plane, (i + 1) * plane)));
        const out = await session.run({ [input]: tensor(data, [chunk.length, 3, options.height, options.width]) });
        const name = pickEmbeddingOutput(out, session.outputNames, chunk.length, options.output);
        const values = out[name].data;
        if (!(values instanceof Float32Array)) throw new Error(`output "${name}" is not float32`);
        const dim = values.length / chunk.length;
        for (let i = 0; i < chunk.length; i++) vectors.push(values.slice(i * dim, (i + 1) * dim));
      }
      return vectors;
    },
  };
}

/**
 * Copy detection by embedding (SSCD-style): an image embedder trained so that an edited copy of an
 * image (recoloured, brightened, shifted, cropped, noised) lands next to the original while
 * different images land apart, and an index of the training images' embeddings. A generation
 * copies a training image when its cosine similarity to that image is above a threshold
 * calibrated, like the ratio rule's alpha, on ordinary generations (replication.ts).
 *
 * Why besides the ratio rule: a pixel distance over thumbnails misses copies a person sees at once
 * when a generation is globally recoloured or brightened (a seed whose initial noise has a large
 * mean brightens every image it makes), and a learned embedding is what the field uses for real
 * models (Somepalli et al., Webster, NeMo: SSCD cosine above 0.5).
 *
 * The embedding is an ImageEncoder (embedding.ts), the interface every image embedding of the lab
 * has (the pixel default, a user's SSCD or CLIP in ONNX, this model's own detector); the runtime
 * that runs an ONNX one lives outside core (node/, workers/). What a detector adds is the index of
 * the training images it searches.
 */
import { chwToRgb } from '../image';
import type { ImageEncoder, RgbImage } from './embedding';
import type { ImageData3 } from './pixels';

/** Embeddings of the training images, in the thumbnail index's order (planted images first). */
export interface EmbeddingIndex {
  /** [count, dim], rows L2-normalised */
  vectors: Float32Array;
  count: number;
  dim: number;
  /** rows 0 .. memorizedCount-1 are the planted (memorized) images */
  memorizedCount: number;
}

/** An image encoder together with the index of the training images it searches. */
export interface CopyDetector extends ImageEncoder {
  readonly index: EmbeddingIndex;
}

/** A lab image (pipeline CHW float in [-1, 1], or HWC bytes) as 8-bit RGB of a square `size`. */
export function asRgbImage(image: ImageData3, size: number): RgbImage {
  if (image.length !== size * size * 3)
    throw new RangeError(`expected ${size * size * 3} values for a ${size}x${size} RGB image, got ${image.length}`);
  const data = image instanceof Float32Array ? chwToRgb(image, size, size) : image;
  return { data, width: size, height: size };
}

/** Scales each row of [count, dim] values to unit length in place (all-zero rows stay zero). */
function normaliseRows(v: Float32Array, dim: number): Float32Array {
  for (let r = 0; r < v.length; r += dim) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += v[r + j] * v[r + j];
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < dim; j++) v[r + j] *= inv;
  }
  return v;
}

/** Unit-length copy of one embedding. */
export function normalised(e: Float32Array): Float32Array {
  return normaliseRows(Float32Array.from(e), e.length);
}

export type IndexEncoding = 'int8' | 'float32';

/**
 * Decodes an embedding index file: int8 (round(127 x component), what the organism ships: a
 * quarter of float32's size, cosine error under 0.01) or little-endian float32. Rows are
 * re-normalised after decoding.
 */
export function decodeEmbeddingIndex(
  bytes: Uint8Array,
  layout: { count: number; dim: number; memorizedCount: number; encoding: IndexEncoding },
): EmbeddingIndex {
  const { count, dim, memorizedCount, encoding } = layout;
  const n = count * dim;
  const expected = encoding === 'int8' ? n : 4 * n;
  if (bytes.length !== expected)
    throw new RangeError(
      `embedding index: expected ${count} x ${dim} ${encoding} values (${expected} bytes), got ${bytes.length}`,
    );
  if (memorizedCount > count) throw new RangeError('embedding index: more planted images than rows');
  let vectors: Float32Array;
  if (encoding === 'int8') {
    const q = new Int8Array(bytes.buffer, bytes.byteOffset, n);
    vectors = Float32Array.from(q, (v) => v / 127);
  } else {
    vectors = new Float32Array(n);
    new Uint8Array(vectors.buffer).set(bytes);
  }
  return { vectors: normaliseRows(vectors, dim), count, dim, memorizedCount };
}

/** The most similar training image to an embedding, overall and among the planted ones. */
export interface EmbeddingMatch {
  /** row of the most similar training image, and its cosine similarity */
  nearest: number;
  similarity: number;
  /** row of the most similar planted image (-1 if the index has none), and its similarity */
  planted: number;
  plantedSimilarity: number;
}

export function matchEmbedding(e: Float32Array, index: EmbeddingIndex): EmbeddingMatch {
  const { vectors, count, dim, memorizedCount } = index;
  if (e.length !== dim) throw new RangeError(`embedding has ${e.length} values, the index ${dim}`);
  let nearest = -1;
  let similarity = -Infinity;
  let planted = -1;
  let plantedSimilarity = -Infinity;
  for (let r = 0; r < count; r++) {
    let s = 0;
    const o = r * dim;
    for (let j = 0; j < dim; j++) s += e[j] * vectors[o + j];
    if (s > similarity) {
      similarity = s;
      nearest = r;
    }
    if (r < memorizedCount && s > plantedSimilarity) {
      plantedSimilarity = s;
      planted = r;
    }
  }
  return { nearest, similarity, planted, plantedSimilarity };
}

/**
 * The similarity threshold tau from ordinary generations (which copy nothing): the value at
 * position floor(quantile * n) of their descending planted similarities, so at most `quantile` of
 * them count as copies (strictly above tau), as calibrateAlpha does for the ratio rule.
 */
export function calibrateSimilarity(ordinary: readonly EmbeddingMatch[], quantile: number): number {
  if (ordinary.length === 0) throw new RangeError('calibration needs at least one generation');
  if (!(quantile >= 0 && quantile < 1)) throw new RangeError('quantile must be in [0, 1)');
  const values = ordinary.map((m) => m.plantedSimilarity).sort((a, b) => b - a);
  return values[Math.floor(quantile * values.length)];
}

/**
 * A copy of a planted image: the most similar of all training images is a planted one, and more
 * similar than tau. (A generation that is closest to an ordinary scene is the model doing its job,
 * as in the ratio rule, where such an image has many neighbours.)
 */
export function isEmbeddingCopy(m: EmbeddingMatch, tau: number): boolean {
  return m.planted >= 0 && m.nearest === m.planted && m.plantedSimilarity > tau;
}

/**
 * Embeds images in chunks (bounded memory for a runtime's input tensor) and matches each against
 * the index. Embeddings are normalised here, so an encoder need not end in an L2 normalisation.
 */
export async function matchImages(
  detector: CopyDetector,
  images: readonly RgbImage[],
  chunk = 256,
): Promise<EmbeddingMatch[]> {
  const out: EmbeddingMatch[] = [];
  for (let start = 0; start < images.length; start += chunk) {
    const part = images.slice(start, start + chunk);
    const embeddings = await detector.embed(part);
    if (embeddings.length !== part.length)
      throw new Error(`${detector.id} returned ${embeddings.length} embeddings for ${part.length} images`);
    for (const e of embeddings) out.push(matchEmbedding(normalised(e), detector.index));
  }
  return out;
}

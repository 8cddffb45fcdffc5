/**
 * Image embeddings for replication on real images. The field decides "is this generation a copy
 * of that training image?" by the similarity of two embeddings above a threshold: SSCD cosine
 * above 0.5 (Somepalli et al.; also Webster's and NeMo's measure), CLIP image similarity in
 * some studies, tiled pixel L2 in Carlini et al. What the embedding is varies; the decision does
 * not. So replication takes any `ImageEncoder`: the pixel-space default below, or an ONNX image
 * model the user points at (onnx-encoder.ts).
 */
import { chwToRgb } from '../image';

/** An 8-bit RGB image, HWC [height, width, 3] (what PNG and JPEG decoders and the lab's exports give). */
export interface RgbImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
}

export interface ImageEncoder {
  /** short stable name, reported with every similarity (e.g. 'pixels-32', 'onnx:sscd.onnx') */
  id: string;
  /** what the embedding sees and what it cannot, in a sentence or two */
  description: string;
  /** the similarity above which this embedding's users call a pair a copy, when there is a convention */
  threshold?: number;
  /** one vector per image, in order; vectors are compared by cosine similarity */
  embed(images: readonly RgbImage[]): Promise<Float32Array[]>;
}

export function checkRgbImage(image: RgbImage, what = 'image'): void {
  const { width, height, data } = image;
  if (!(Number.isInteger(width) && width > 0 && Number.isInteger(height) && height > 0))
    throw new RangeError(`${what}: width and height must be positive whole numbers, got ${width} x ${height}`);
  if (data.length !== width * height * 3)
    throw new RangeError(
      `${what}: expected ${width * height * 3} RGB bytes for ${width} x ${height}, got ${data.length}`,
    );
}

/** Cosine similarity of two vectors (0 when either is all zeros). */
export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`vectors differ in length: ${a.length} vs ${b.length}`);
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  const d = Math.sqrt(na * nb);
  return d > 0 ? dot / d : 0;
}

/** Source positions and weights that make one output coordinate, per output coordinate of one axis. */
function axisWeights(
  src: number,
  dst: number,
  from: number,
  span: number,
): { index: Int32Array; weight: Float32Array }[] {
  const scale = span / dst;
  const out: { index: Int32Array; weight: Float32Array }[] = [];
  for (let j = 0; j < dst; j++) {
    if (scale > 1) {
      // shrinking: the average over the source interval the output pixel covers (area / box filter)
      const lo = from + j * scale;
      const hi = lo + scale;
      const idx: number[] = [];
      const w: number[] = [];
      for (let i = Math.floor(lo); i < Math.ceil(hi); i++) {
        const overlap = Math.min(hi, i + 1) - Math.max(lo, i);
        if (overlap > 1e-9) {
          idx.push(Math.min(src - 1, i));
          w.push(overlap / scale);
        }
      }
      out.push({ index: Int32Array.from(idx), weight: Float32Array.from(w) });
    } else {
      // enlarging or equal: bilinear between pixel centres, edges clamped
      const c = from + (j + 0.5) * scale - 0.5;
      const i0 = Math.floor(c);
      const f = c - i0;
      const lo = Math.max(0, Math.min(src - 1, i0));
      const hi = Math.max(0, Math.min(src - 1, i0 + 1));
      out.push({ index: Int32Array.of(lo, hi), weight: Float32Array.of(1 - f, f) });
    }
  }
  return out;
}

/** A rectangle of the source image: x, y, width, height in pixels (may be fractional). */
export interface Crop {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The centred crop of a width x height image with the aspect ratio of outW x outH (CLIP's resize-then-centre-crop). */
export function centreCrop(width: number, height: number, outW: number, outH: number): Crop {
  const aspect = outW / outH;
  if (width / height > aspect) {
    const w = height * aspect;
    return { x: (width - w) / 2, y: 0, width: w, height };
  }
  const h = width / aspect;
  return { x: 0, y: (height - h) / 2, width, height: h };
}

/**
 * Resamples an RGB image (or a crop of it) to outW x outH, HWC float in the byte range 0..255:
 * area-averaged where it shrinks (no aliasing, and exactly the block mean for whole factors),
 * bilinear where it grows.
 */
export function resampleRgb(image: RgbImage, outW: number, outH: number, crop?: Crop): Float32Array {
  checkRgbImage(image);
  const { width, height, data } = image;
  const c = crop ?? { x: 0, y: 0, width, height };
  const xs = axisWeights(width, outW, c.x, c.width);
  const ys = axisWeights(height, outH, c.y, c.height);
  // rows first: [height, outW, 3], then columns
  const rows = new Float32Array(height * outW * 3);
  for (let y = 0; y < height; y++) {
    for (let j = 0; j < outW; j++) {
      const { index, weight } = xs[j];
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = 0; k < index.length; k++) {
        const s = (y * width + index[k]) * 3;
        r += data[s] * weight[k];
        g += data[s + 1] * weight[k];
        b += data[s + 2] * weight[k];
      }
      const d = (y * outW + j) * 3;
      rows[d] = r;
      rows[d + 1] = g;
      rows[d + 2] = b;
    }
  }
  const out = new Float32Array(outH * outW * 3);
  for (let i = 0; i < outH; i++) {
    const { index, weight } = ys[i];
    for (let j = 0; j < outW; j++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = 0; k < index.length; k++) {
        const s = (index[k] * outW + j) * 3;
        r += rows[s] * weight[k];
        g += rows[s + 1] * weight[k];
        b += rows[s + 2] * weight[k];
      }
      const d = (i * outW + j) * 3;
      out[d] = r;
      out[d + 1] = g;
      out[d + 2] = b;
    }
  }
  return out;
}

/** Rounds a resampled image back to 8-bit RGB. */
export function toRgbImage(hwc: Float32Array, width: number, height: number): RgbImage {
  const data = new Uint8Array(hwc.length);
  for (let i = 0; i < hwc.length; i++) data[i] = Math.max(0, Math.min(255, Math.round(hwc[i])));
  return { data, width, height };
}

/** The model's images (CHW float in [-1, 1]) as RGB bytes. */
export function rgbImageOfChw(chw: Float32Array, width: number, height: number): RgbImage {
  return { data: chwToRgb(chw, width, height), width, height };
}

/**
 * The pixel-space default: the image area-averaged to `size` x `size`, each colour channel minus
 * its own mean. Its cosine similarity is the correlation of two images' colour patterns at that
 * resolution.
 *
 * What it sees: the same picture in the same place, also when it is uniformly brightened or
 * darkened, colour-cast (a constant added to a channel) or changed in contrast (all channels
 * scaled alike), and through noise finer than the grid.
 * What it cannot see: a copy that is shifted or cropped by more than about a grid cell, flipped,
 * rotated, rescaled or placed on a different background; the same object in another layout or
 * style; anything a person recognises by meaning rather than by pixel position. It is a
 * near-duplicate detector, not SSCD: it under-counts the copies the field counts, so a rate
 * measured with it is a lower bound. Calibrate its threshold on ordinary generations
 * (calibrateSimilarityThreshold) before reading rates from it.
 */
export function pixelEncoder(size = 32): ImageEncoder {
  if (!(Number.isInteger(size) && size > 0)) throw new RangeError(`size must be a positive whole number, got ${size}`);
  return {
    id: `pixels-${size}`,
    description: `pixel correlation at ${size}x${size} (colour channels centred): sees near-duplicates in place, also brightened or colour-cast; blind to shifts, crops, flips and anything semantic`,
    threshold: PIXEL_COPY_THRESHOLD,
    async embed(images) {
      return images.map((image) => {
        const v = resampleRgb(image, size, size);
        const n = size * size;
        for (let c = 0; c < 3; c++) {
          let mean = 0;
          for (let p = 0; p < n; p++) mean += v[3 * p + c];
          mean /= n;
          for (let p = 0; p < n; p++) v[3 * p + c] -= mean;
        }
        return v;
      });
    },
  };
}

/**
 * The pixel encoder's default copy threshold: a correlation of 0.9 keeps 81% of the variance in
 * common. Measured on the organism against its 20 planted images (25 steps, guidance 4): 39 of 40
 * generations for memorized captions above it (median 0.99; the ratio rule found 37), none of 64
 * generations for neutral prompts or training-scene captions (highest 0.36). A starting point for
 * a model nobody has calibrated; calibrate on that model's ordinary generations.
 */
export const PIXEL_COPY_THRESHOLD = 0.9;

/**
 * A similarity threshold from the similarities of generations that should copy nothing (ordinary
 * prompts): the value at position floor(quantile * n) of the descending similarities, so at most
 * `quantile` of them lie strictly above it (the accepted false-positive rate).
 */
export function calibrateSimilarityThreshold(ordinary: readonly number[], quantile: number): number {
  if (ordinary.length === 0) throw new RangeError('calibration needs at least one similarity');
  if (!(quantile >= 0 && quantile < 1)) throw new RangeError('quantile must be in [0, 1)');
  const sorted = [...ordinary].sort((a, b) => b - a);
  return sorted[Math.floor(quantile * sorted.length)];
}

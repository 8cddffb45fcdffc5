/**
 * The two image layouts metrics accept, and the one they compute in.
 *
 *   Uint8Array / Uint8ClampedArray: RGB bytes, HWC [H, W, 3], 0..255 (memorized.bin, train-index.bin,
 *                                   canvases without alpha)
 *   Float32Array:                   CHW [3, H, W] in [-1, 1] (the pipeline's images and predictions)
 *
 * The array type says which layout it is, so callers never pass a layout flag that could disagree.
 * Metrics work on HWC float in [-1, 1] ("unit" values), so distances read in the model's units.
 */
export type ImageData3 = Uint8Array | Uint8ClampedArray | Float32Array;

/** Byte 0..255 -> [-1, 1], the inverse of the pipeline's (v + 1) * 127.5. */
export function byteToUnit(b: number): number {
  return b / 127.5 - 1;
}

/**
 * HWC float in [-1, 1] for a square or rectangular image of `width` x `height`. Writes into `out`
 * when given (reuse it across calls to avoid allocation).
 */
export function toUnitHwc(image: ImageData3, width: number, height: number, out?: Float32Array): Float32Array {
  const n = width * height * 3;
  if (image.length !== n)
    throw new RangeError(`expected ${n} values for a ${width}x${height} RGB image, got ${image.length}`);
  const dst = out ?? new Float32Array(n);
  if (dst.length !== n) throw new RangeError(`output buffer must hold ${n} values`);
  if (image instanceof Float32Array) {
    const plane = width * height;
    for (let p = 0; p < plane; p++) {
      dst[3 * p] = image[p];
      dst[3 * p + 1] = image[plane + p];
      dst[3 * p + 2] = image[2 * plane + p];
    }
  } else {
    for (let i = 0; i < n; i++) dst[i] = byteToUnit(image[i]);
  }
  return dst;
}

/**
 * Box-filter thumbnail of an HWC float image, like training/memlab/export.py thumbnails() (which
 * also rounds to bytes; the difference is at most half a byte step and does not change neighbours).
 */
export function thumbnailHwc(hwc: Float32Array, size: number, thumb: number, out?: Float32Array): Float32Array {
  if (size % thumb !== 0) throw new RangeError(`thumbnail size ${thumb} must divide image size ${size}`);
  const f = size / thumb;
  const dst = out ?? new Float32Array(thumb * thumb * 3);
  dst.fill(0);
  for (let y = 0; y < size; y++) {
    const ty = (y / f) | 0;
    for (let x = 0; x < size; x++) {
      const t = (ty * thumb + ((x / f) | 0)) * 3;
      const s = (y * size + x) * 3;
      dst[t] += hwc[s];
      dst[t + 1] += hwc[s + 1];
      dst[t + 2] += hwc[s + 2];
    }
  }
  const inv = 1 / (f * f);
  for (let i = 0; i < dst.length; i++) dst[i] *= inv;
  return dst;
}

/**
 * Images as one CHW float batch [n, 3, H, W] in [-1, 1] (what an image-embedding graph takes):
 * pipeline images are copied as they are, bytes are converted from HWC.
 */
export function toUnitChwBatch(images: readonly ImageData3[], width: number, height: number): Float32Array {
  const plane = width * height;
  const n = plane * 3;
  const out = new Float32Array(images.length * n);
  images.forEach((image, k) => {
    if (image.length !== n)
      throw new RangeError(`expected ${n} values for a ${width}x${height} RGB image, got ${image.length}`);
    const o = k * n;
    if (image instanceof Float32Array) {
      out.set(image, o);
      return;
    }
    for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) out[o + c * plane + p] = byteToUnit(image[3 * p + c]);
  });
  return out;
}

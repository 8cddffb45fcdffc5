/** Pixel conversions and image differences for the views. DOM-free. Images are RGBA [h, w, 4]. */

/** HWC RGB bytes (e.g. manifest memorized.bin records) to RGBA. */
export function rgbToRgba(rgb: ArrayLike<number>, width: number, height: number): Uint8ClampedArray {
  const n = width * height;
  if (rgb.length < n * 3) throw new Error(`RGB image has ${rgb.length} bytes, ${width}x${height} needs ${n * 3}`);
  const out = new Uint8ClampedArray(n * 4);
  for (let i = 0; i < n; i++) {
    out[i * 4] = rgb[i * 3];
    out[i * 4 + 1] = rgb[i * 3 + 1];
    out[i * 4 + 2] = rgb[i * 3 + 2];
    out[i * 4 + 3] = 255;
  }
  return out;
}

/** A CHW float image in [lo, hi] (the pipeline's previews use [-1, 1]) to RGBA bytes. */
export function chwToRgba(
  chw: ArrayLike<number>,
  width: number,
  height: number,
  range: readonly [number, number] = [-1, 1],
): Uint8ClampedArray {
  const n = width * height;
  if (chw.length < n * 3) throw new Error(`CHW image has ${chw.length} values, ${width}x${height} needs ${n * 3}`);
  const [lo, hi] = range;
  const k = 255 / (hi - lo);
  const out = new Uint8ClampedArray(n * 4);
  for (let i = 0; i < n; i++) {
    // Uint8ClampedArray rounds and clamps, which is exactly the display conversion wanted.
    out[i * 4] = (chw[i] - lo) * k;
    out[i * 4 + 1] = (chw[n + i] - lo) * k;
    out[i * 4 + 2] = (chw[2 * n + i] - lo) * k;
    out[i * 4 + 3] = 255;
  }
  return out;
}

function checkPair(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length || a.length % 4 !== 0)
    throw new Error(`images differ in size (${a.length} vs ${b.length} bytes)`);
  return a.length / 4;
}

/** Per pixel mean over R, G, B of |a - b|, in [0, 1]. */
export function absDiff(a: ArrayLike<number>, b: ArrayLike<number>, out?: Float32Array): Float32Array {
  const n = checkPair(a, b);
  const dst = out ?? new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const j = i * 4;
    dst[i] = (Math.abs(a[j] - b[j]) + Math.abs(a[j + 1] - b[j + 1]) + Math.abs(a[j + 2] - b[j + 2])) / (3 * 255);
  }
  return dst;
}

/** Per pixel luma(b) - luma(a) (Rec. 709 weights on the bytes), in [-1, 1]: brighter after = positive. */
export function signedLumaDiff(a: ArrayLike<number>, b: ArrayLike<number>, out?: Float32Array): Float32Array {
  const n = checkPair(a, b);
  const dst = out ?? new Float32Array(n);
  const luma = (x: ArrayLike<number>, j: number) => 0.2126 * x[j] + 0.7152 * x[j + 1] + 0.0722 * x[j + 2];
  for (let i = 0; i < n; i++) dst[i] = (luma(b, i * 4) - luma(a, i * 4)) / 255;
  return dst;
}

export function maxAbs(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) m = Math.max(m, Math.abs(values[i]));
  return m;
}

/** Mean of |a - b| over pixels and channels in [0, 1]: the one-number summary under a diff image. */
export function meanAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const d = absDiff(a, b);
  let s = 0;
  for (let i = 0; i < d.length; i++) s += d[i];
  return d.length ? s / d.length : 0;
}

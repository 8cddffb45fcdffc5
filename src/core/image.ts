/** Model images (CHW float in [-1, 1]) to 8-bit pixels for canvases and PNG files. */

/** 8-bit RGBA pixels, row-major; travels between threads as a transferable. */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8ClampedArray;
}

/** [-1, 1] -> 0..255, rounded and clamped (like (x / 2 + 0.5).clamp(0, 1) * 255, rounded). */
export function toByte(v: number): number {
  const b = Math.round((v + 1) * 127.5);
  return b < 0 ? 0 : Math.min(b, 255);
}

/** CHW (3 channels) -> interleaved RGBA with opaque alpha, ready for ImageData. */
export function chwToRgba(chw: Float32Array, width: number, height: number): Uint8ClampedArray {
  return interleave(chw, width, height, new Uint8ClampedArray(width * height * 4), 4);
}

/** CHW (3 channels) -> interleaved RGB. */
export function chwToRgb(chw: Float32Array, width: number, height: number): Uint8Array {
  return interleave(chw, width, height, new Uint8Array(width * height * 3), 3);
}

function interleave<T extends Uint8Array | Uint8ClampedArray>(
  chw: Float32Array,
  width: number,
  height: number,
  out: T,
  stride: 3 | 4,
): T {
  const plane = width * height;
  if (chw.length !== 3 * plane) throw new Error(`expected 3 x ${height} x ${width} values, got ${chw.length}`);
  for (let p = 0; p < plane; p++) {
    out[p * stride] = toByte(chw[p]);
    out[p * stride + 1] = toByte(chw[plane + p]);
    out[p * stride + 2] = toByte(chw[2 * plane + p]);
    if (stride === 4) out[p * stride + 3] = 255;
  }
  return out;
}

/** Nearest-neighbour upscale of interleaved pixels by an integer factor (keeps pixels crisp). */
export function upscaleNearest<T extends Uint8Array | Uint8ClampedArray>(
  pixels: T,
  width: number,
  height: number,
  channels: number,
  factor: number,
): T {
  if (!Number.isInteger(factor) || factor < 1) throw new RangeError(`factor must be a positive integer, got ${factor}`);
  const w = width * factor;
  const out = new (pixels.constructor as new (n: number) => T)(w * height * factor * channels);
  for (let y = 0; y < height * factor; y++) {
    const sy = Math.floor(y / factor);
    for (let x = 0; x < w; x++) {
      const src = (sy * width + Math.floor(x / factor)) * channels;
      const dst = (y * w + x) * channels;
      for (let c = 0; c < channels; c++) out[dst + c] = pixels[src + c];
    }
  }
  return out;
}

/**
 * Edits that keep an image a copy to a person's eye: recolouring, brightening, shifting, cropping,
 * noise. The copy detector's tests apply them to the planted images with families and parameters
 * its training never used (training/memlab/copy_detector.py augments with linear hue rotations
 * about the grey axis, per-channel gains, channel mixing, linear brightness and contrast, reflected
 * shifts up to 3 px, zoom up to 1.15 and Gaussian noise; these are hue shifts and saturation
 * changes in HSV space, gamma curves, edge-replicated shifts of 4-5 px, crops zoomed 1.23-1.33x,
 * and uniform or salt-and-pepper noise).
 *
 * Images are HWC float in [-1, 1] (pixels.ts toUnitHwc), square or not; results are clamped to
 * [-1, 1]. Pure and deterministic: noise comes from a seeded Rng.
 */
import { Rng } from '../rng';

export interface Hwc {
  data: Float32Array;
  width: number;
  height: number;
}

const clamp = (v: number) => Math.max(-1, Math.min(1, v));

function map(img: Hwc, f: (r: number, g: number, b: number, out: Float32Array, o: number) => void): Hwc {
  const data = new Float32Array(img.data.length);
  for (let o = 0; o < data.length; o += 3) f(img.data[o], img.data[o + 1], img.data[o + 2], data, o);
  for (let i = 0; i < data.length; i++) data[i] = clamp(data[i]);
  return { ...img, data };
}

/**
 * A photo editor's hue slider: every pixel's hue moved by `degrees` in HSV space (value kept), its
 * saturation scaled by `saturation`. Non-linear in RGB, unlike a rotation about the grey axis.
 */
export function hsvShift(img: Hwc, degrees: number, saturation = 1): Hwc {
  return map(img, (r, g, b, out, o) => {
    const [h, s, v] = rgbToHsv((r + 1) / 2, (g + 1) / 2, (b + 1) / 2);
    const rgb = hsvToRgb((((h + degrees / 360) % 1) + 1) % 1, Math.min(1, s * saturation), v);
    for (let i = 0; i < 3; i++) out[o + i] = 2 * rgb[i] - 1;
  });
}

function rgbToHsv(r: number, g: number, b: number): [number, number, number] {
  const max = Math.max(r, g, b);
  const d = max - Math.min(r, g, b);
  let h = 0;
  if (d > 0) {
    if (max === r) h = ((g - b) / d + 6) % 6;
    else if (max === g) h = (b - r) / d + 2;
    else h = (r - g) / d + 4;
  }
  return [h / 6, max > 0 ? d / max : 0, max];
}

function hsvToRgb(h: number, s: number, v: number): [number, number, number] {
  const f = (n: number) => {
    const k = (n + h * 6) % 6;
    return v - v * s * Math.max(0, Math.min(k, 4 - k, 1));
  };
  return [f(5), f(3), f(1)];
}

/** A gamma curve on [0, 1] intensities: gamma < 1 brightens the mid-tones, > 1 darkens them. */
export function gammaCurve(img: Hwc, gamma: number): Hwc {
  if (!(gamma > 0)) throw new RangeError('gamma must be positive');
  const f = (v: number) => 2 * ((v + 1) / 2) ** gamma - 1;
  return map(img, (r, g, b, out, o) => {
    out[o] = f(r);
    out[o + 1] = f(g);
    out[o + 2] = f(b);
  });
}

/** Moves the content by (dx, dy) whole pixels; the uncovered border repeats the edge pixels. */
export function shift(img: Hwc, dx: number, dy: number): Hwc {
  const { width: w, height: h } = img;
  const data = new Float32Array(img.data.length);
  for (let y = 0; y < h; y++) {
    const sy = Math.min(h - 1, Math.max(0, y - dy));
    for (let x = 0; x < w; x++) {
      const sx = Math.min(w - 1, Math.max(0, x - dx));
      for (let c = 0; c < 3; c++) data[(y * w + x) * 3 + c] = img.data[(sy * w + sx) * 3 + c];
    }
  }
  return { ...img, data };
}

/** Cuts a `size` x `size` window at (left, top) and scales it back to the full size (bilinear). */
export function cropResize(img: Hwc, left: number, top: number, size: number): Hwc {
  const { width: w, height: h } = img;
  if (left < 0 || top < 0 || left + size > w || top + size > h) throw new RangeError('crop window outside the image');
  const data = new Float32Array(img.data.length);
  const at = (x: number, y: number, c: number) => img.data[(y * w + x) * 3 + c];
  for (let y = 0; y < h; y++) {
    // pixel centres of the output mapped into the window
    const fy = Math.min(size - 1, Math.max(0, ((y + 0.5) * size) / h - 0.5)) + top;
    const y0 = Math.floor(fy);
    const y1 = Math.min(top + size - 1, y0 + 1);
    const ty = fy - y0;
    for (let x = 0; x < w; x++) {
      const fx = Math.min(size - 1, Math.max(0, ((x + 0.5) * size) / w - 0.5)) + left;
      const x0 = Math.floor(fx);
      const x1 = Math.min(left + size - 1, x0 + 1);
      const tx = fx - x0;
      for (let c = 0; c < 3; c++) {
        const top_ = at(x0, y0, c) * (1 - tx) + at(x1, y0, c) * tx;
        const bottom = at(x0, y1, c) * (1 - tx) + at(x1, y1, c) * tx;
        data[(y * w + x) * 3 + c] = top_ * (1 - ty) + bottom * ty;
      }
    }
  }
  return { ...img, data };
}

/** Adds independent uniform noise in [-amplitude, amplitude] to every value. */
export function uniformNoise(img: Hwc, amplitude: number, seed: number): Hwc {
  const rng = new Rng(seed);
  const data = Float32Array.from(img.data, (v) => clamp(v + amplitude * (2 * rng.nextUniform() - 1)));
  return { ...img, data };
}

/** Sets a share of the pixels to black or white at random. */
export function saltAndPepper(img: Hwc, share: number, seed: number): Hwc {
  const rng = new Rng(seed);
  const data = Float32Array.from(img.data);
  for (let p = 0; p < data.length / 3; p++) {
    if (rng.nextUniform() >= share) continue;
    const v = rng.nextUniform() < 0.5 ? -1 : 1;
    data[3 * p] = v;
    data[3 * p + 1] = v;
    data[3 * p + 2] = v;
  }
  return { ...img, data };
}

/** Root-mean-square difference of two images of one size. */
export function rmse(a: Hwc, b: Hwc): number {
  if (a.data.length !== b.data.length) throw new RangeError('images differ in size');
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += (a.data[i] - b.data[i]) ** 2;
  return Math.sqrt(s / a.data.length);
}

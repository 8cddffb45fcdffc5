import { describe, expect, it } from 'vitest';
import { Rng } from '../rng';
import {
  type RgbImage,
  calibrateSimilarityThreshold,
  centreCrop,
  cosineSimilarity,
  pixelEncoder,
  resampleRgb,
  rgbImageOfChw,
} from './embedding';

/** A 32x32 image with a few shapes and a gradient, different per seed. */
function scene(seed: number, size = 32): RgbImage {
  const rng = new Rng(seed);
  const data = new Uint8Array(size * size * 3);
  const blobs = Array.from({ length: 4 }, () => ({
    x: rng.nextUniform() * size,
    y: rng.nextUniform() * size,
    r: 3 + rng.nextUniform() * 6,
    c: [rng.nextUniform() * 255, rng.nextUniform() * 255, rng.nextUniform() * 255],
  }));
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const px = [40 + 3 * x, 60, 40 + 3 * y];
      for (const b of blobs) if ((x - b.x) ** 2 + (y - b.y) ** 2 < b.r ** 2) px.splice(0, 3, ...b.c);
      for (let c = 0; c < 3; c++) data[(y * size + x) * 3 + c] = Math.round(px[c]);
    }
  return { data, width: size, height: size };
}

const map = (img: RgbImage, f: (v: number, c: number, x: number, y: number) => number): RgbImage => {
  const data = new Uint8Array(img.data.length);
  for (let y = 0; y < img.height; y++)
    for (let x = 0; x < img.width; x++)
      for (let c = 0; c < 3; c++) {
        const i = (y * img.width + x) * 3 + c;
        data[i] = Math.max(0, Math.min(255, Math.round(f(img.data[i], c, x, y))));
      }
  return { ...img, data };
};

describe('resampling', () => {
  it('averages whole blocks when shrinking by a whole factor', () => {
    const img: RgbImage = { data: Uint8Array.from({ length: 4 * 4 * 3 }, (_, i) => i), width: 4, height: 4 };
    const out = resampleRgb(img, 2, 2);
    // top-left block: pixels (0,0),(1,0),(0,1),(1,1), red channel values 0, 3, 12, 15
    expect(out[0]).toBeCloseTo((0 + 3 + 12 + 15) / 4, 5);
    expect(out.length).toBe(12);
  });

  it('keeps an image of the same size, and interpolates between pixel centres when enlarging', () => {
    const img = scene(3);
    expect(Array.from(resampleRgb(img, 32, 32))).toEqual(Array.from(img.data));
    const two: RgbImage = { data: Uint8Array.of(0, 0, 0, 100, 100, 100), width: 2, height: 1 };
    const wide = resampleRgb(two, 4, 1);
    expect(Array.from(wide.filter((_, i) => i % 3 === 0))).toEqual([0, 25, 75, 100]);
  });

  it('crops the centre to the output aspect ratio', () => {
    expect(centreCrop(640, 480, 224, 224)).toEqual({ x: 80, y: 0, width: 480, height: 480 });
    expect(centreCrop(100, 300, 50, 50)).toEqual({ x: 0, y: 100, width: 100, height: 100 });
  });

  it('turns model images (CHW in [-1, 1]) into bytes', () => {
    const chw = Float32Array.of(-1, 1, 0, 0.5, 2, -2);
    expect(Array.from(rgbImageOfChw(chw, 2, 1).data)).toEqual([0, 128, 255, 255, 191, 0]);
  });
});

describe('the pixel-space encoder', () => {
  const encoder = pixelEncoder(32);
  const sim = async (a: RgbImage, b: RgbImage) => {
    const [u, v] = await encoder.embed([a, b]);
    return cosineSimilarity(u, v);
  };

  it('sees a copy through brightening, a colour cast, lower contrast and fine noise', async () => {
    const a = scene(1);
    const noise = new Rng(9);
    expect(await sim(a, a)).toBeCloseTo(1, 6);
    expect(
      await sim(
        a,
        map(a, (v) => v + 30),
      ),
    ).toBeGreaterThan(0.99);
    expect(
      await sim(
        a,
        map(a, (v, c) => v + (c === 0 ? 25 : c === 2 ? -20 : 0)),
      ),
    ).toBeGreaterThan(0.99);
    expect(
      await sim(
        a,
        map(a, (v) => 128 + (v - 128) * 0.6),
      ),
    ).toBeGreaterThan(0.99);
    expect(
      await sim(
        a,
        map(a, (v) => v + noise.nextGaussian() * 12),
      ),
    ).toBeGreaterThan(encoder.threshold!);
  });

  it('does not see a different scene, and (as documented) loses a copy shifted by a few pixels or mirrored', async () => {
    const a = scene(1);
    for (const other of [2, 4, 5]) expect(await sim(a, scene(other))).toBeLessThan(encoder.threshold!);
    const shifted = map(a, (_v, c, x, y) => a.data[(y * 32 + Math.max(0, x - 6)) * 3 + c]);
    const mirrored = map(a, (_v, c, x, y) => a.data[(y * 32 + 31 - x) * 3 + c]);
    expect(await sim(a, shifted)).toBeLessThan(encoder.threshold!);
    expect(await sim(a, mirrored)).toBeLessThan(encoder.threshold!);
  });

  it('compares images of different sizes at its own resolution', async () => {
    const big = scene(7, 64);
    const small: RgbImage = { data: new Uint8Array(32 * 32 * 3), width: 32, height: 32 };
    small.data.set(resampleRgb(big, 32, 32).map(Math.round));
    expect(await sim(big, small)).toBeGreaterThan(0.999);
  });
});

describe('calibrating a similarity threshold', () => {
  it('lets at most the given share of ordinary similarities lie above it', () => {
    const ordinary = Array.from({ length: 100 }, (_, i) => i / 100);
    const t = calibrateSimilarityThreshold(ordinary, 0.05);
    expect(ordinary.filter((s) => s > t)).toHaveLength(5);
    expect(calibrateSimilarityThreshold([0.3], 0)).toBe(0.3);
    expect(() => calibrateSimilarityThreshold([], 0.01)).toThrow(/at least one/);
    expect(() => calibrateSimilarityThreshold([1], 1)).toThrow(/quantile/);
  });
});

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../manifest';
import { Rng } from '../rng';
import { thumbnailHwc, toUnitHwc } from './pixels';
import {
  calibrateThreshold,
  nearestMemorizedImage,
  nearestTrainingImage,
  neighbourRatio,
  replicationRate,
  trainIndexFromFiles,
  type ReplicationScore,
  type TrainIndex,
} from './replication';

const S = 32;
const N = S * S * 3;

function randomImage(r: Rng): Uint8Array {
  const img = new Uint8Array(N);
  for (let i = 0; i < N; i++) img[i] = Math.floor(r.nextUniform() * 256);
  return img;
}

/** Exactly export.py thumbnails(): 4x4 box mean, numpy rounding (half to even). */
function thumbBytes(img: Uint8Array): Uint8Array {
  const out = new Uint8Array(192);
  for (let ty = 0; ty < 8; ty++)
    for (let tx = 0; tx < 8; tx++)
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) sum += img[((ty * 4 + y) * S + tx * 4 + x) * 3 + c];
        const q = Math.floor(sum / 16);
        const rem = sum - 16 * q;
        out[(ty * 8 + tx) * 3 + c] = rem > 8 || (rem === 8 && q % 2 === 1) ? q + 1 : q;
      }
  return out;
}

/** Our float thumbnail agrees with it to half a byte step. */
function thumbAgrees(img: Uint8Array): boolean {
  const t = thumbnailHwc(toUnitHwc(img, S, S), S, 8);
  const b = thumbBytes(img);
  return t.every((v, i) => Math.abs((v + 1) * 127.5 - b[i]) <= 0.5 + 1e-4);
}

/** 3 memorized + 5 scene images, thumbnails of all 8 (memorized first). */
function syntheticIndex(): { train: TrainIndex; scenes: Uint8Array[]; memorized: Uint8Array[] } {
  const r = new Rng(3);
  const memorized = [randomImage(r), randomImage(r), randomImage(r)];
  const scenes = Array.from({ length: 5 }, () => randomImage(r));
  const thumbs = new Uint8Array(8 * 192);
  [...memorized, ...scenes].forEach((img, k) => thumbs.set(thumbBytes(img), k * 192));
  const mem = new Uint8Array(3 * N);
  memorized.forEach((img, k) => mem.set(img, k * N));
  return {
    train: { memorized: mem, thumbnails: thumbs, count: 8, memorizedCount: 3, size: S, thumbSize: 8 },
    scenes,
    memorized,
  };
}

/** HWC bytes -> CHW float in [-1, 1], the pipeline's layout. */
function toChw(img: Uint8Array): Float32Array {
  const out = new Float32Array(N);
  for (let p = 0; p < S * S; p++) for (let c = 0; c < 3; c++) out[c * S * S + p] = img[p * 3 + c] / 127.5 - 1;
  return out;
}

describe('nearest training image', () => {
  const { train, scenes, memorized } = syntheticIndex();

  it('finds an exact copy of a memorized image at full resolution', () => {
    const s = nearestTrainingImage(memorized[1], train);
    expect(s).toMatchObject({ index: 1, memorized: true, resolution: 'full' });
    // float32 [-1, 1] values against float64 ones: zero up to float32 rounding
    expect(s.l2).toBeLessThan(1e-6);
    expect(s.tiledL2).toBeLessThan(1e-6);
    expect(s.cosine).toBeCloseTo(1, 6);
  });

  it('accepts the pipeline layout (CHW float) and gives the same answer', () => {
    const s = nearestTrainingImage(toChw(memorized[2]), train);
    expect(s.index).toBe(2);
    expect(s.l2).toBeLessThan(1e-6);
  });

  it('reports the tiled L2 as the worst tile: one bad tile of 16 makes it 4x the overall RMSE', () => {
    const img = memorized[0].slice();
    // Tile (0, 0) is pixels 0..7 x 0..7; set it to a constant offset of +40 bytes (clamped inputs avoided).
    const base = new Uint8Array(N).fill(100);
    const shifted = base.slice();
    for (let y = 0; y < 8; y++)
      for (let x = 0; x < 8; x++) for (let c = 0; c < 3; c++) shifted[(y * S + x) * 3 + c] = 140;
    const t: TrainIndex = { ...train, memorized: base, thumbnails: thumbBytes(base), count: 1, memorizedCount: 1 };
    const s = nearestMemorizedImage(shifted, t);
    const d = 40 / 127.5;
    expect(s.tiledL2).toBeCloseTo(d, 6);
    expect(s.l2).toBeCloseTo(d / 4, 6);
    expect(img.length).toBe(N);
  });

  it('gives cosine -1 for a photographic negative', () => {
    const neg = toChw(memorized[0]).map((v) => -v);
    const t: TrainIndex = { ...train, count: 1, memorizedCount: 1 };
    expect(nearestMemorizedImage(neg, t).cosine).toBeCloseTo(-1, 6);
  });

  it('finds a non-memorized training image through its thumbnail', () => {
    const s = nearestTrainingImage(scenes[3], train);
    expect(s).toMatchObject({ index: 6, memorized: false, resolution: 'thumbnail' });
    // Only the thumbnail's byte rounding separates them: at most half a byte step.
    expect(s.l2).toBeLessThanOrEqual(0.5 / 127.5);
  });

  it('prefers the memorized image when a generation is closer to it than to any scene', () => {
    const r = new Rng(11);
    const noisy = memorized[1].map((v) => Math.min(255, Math.max(0, v + Math.round((r.nextUniform() - 0.5) * 20))));
    expect(nearestTrainingImage(noisy, train)).toMatchObject({ index: 1, memorized: true });
  });

  it('works on the fixture model files: each memorized image finds itself, and its thumbnail matches export.py', () => {
    const r = parseManifest(JSON.parse(readFileSync('public/models/fixture-random/manifest.json', 'utf8')));
    if (!r.ok) throw new Error(r.problems.join());
    const dir = 'public/models/fixture-random/';
    const t = trainIndexFromFiles(
      r.manifest,
      new Uint8Array(readFileSync(`${dir}memorized.bin`)),
      new Uint8Array(readFileSync(`${dir}train-index.bin`)),
    );
    expect(t.count).toBe(10020);
    for (let k = 0; k < t.memorizedCount; k++) {
      const img = t.memorized.subarray(k * N, (k + 1) * N);
      expect(thumbBytes(img)).toEqual(t.thumbnails.subarray(k * 192, (k + 1) * 192));
      expect(thumbAgrees(img)).toBe(true);
      const s = nearestTrainingImage(img, t);
      expect(s).toMatchObject({ index: k, memorized: true });
      expect(s.l2).toBeLessThan(1e-6);
    }
    expect(() => trainIndexFromFiles(r.manifest, new Uint8Array(10), t.thumbnails)).toThrow(/memorized images/);
  });
});

describe('replication rate and calibration', () => {
  const score = (tiledL2: number, cosine = 0): ReplicationScore => ({
    index: 0,
    memorized: true,
    resolution: 'full',
    l2: tiledL2 / 2,
    cosine,
    tiledL2,
  });

  it('counts distances strictly below and similarities strictly above the threshold', () => {
    const scores = [score(0.05, 0.9), score(0.1, 0.5), score(0.3, 0.2), score(0.6, -0.1)];
    expect(replicationRate(scores, 0.1)).toBe(0.25);
    expect(replicationRate(scores, 0.31)).toBe(0.75);
    expect(replicationRate(scores, 0.5, 'cosine')).toBe(0.25);
    expect(replicationRate(scores, 0.1, 'l2')).toBe(0.5); // l2 = 0.025, 0.05, 0.15, 0.3
    expect(replicationRate([], 1)).toBe(0);
  });

  it('calibrates so that at most the chosen share of neutral generations is flagged', () => {
    const neutral = Array.from({ length: 100 }, (_, i) => score(0.2 + i * 0.01, 0.5 - i * 0.01));
    const t = calibrateThreshold(neutral, 0.05);
    expect(t).toBeCloseTo(0.25, 12);
    expect(replicationRate(neutral, t)).toBe(0.05);
    const tc = calibrateThreshold(neutral, 0.05, 'cosine');
    expect(tc).toBeCloseTo(0.45, 12);
    expect(replicationRate(neutral, tc, 'cosine')).toBe(0.05);
    expect(replicationRate(neutral, calibrateThreshold(neutral, 0))).toBe(0);
  });

  it('never exceeds the chosen false-positive share, ties included (random check)', () => {
    const r = new Rng(5);
    for (let trial = 0; trial < 200; trial++) {
      const n = 1 + Math.floor(r.nextUniform() * 60);
      const neutral = Array.from({ length: n }, () =>
        score(Math.round(r.nextUniform() * 10) / 10, Math.round(r.nextUniform() * 10) / 10),
      );
      const q = r.nextUniform() * 0.99;
      for (const by of ['tiledL2', 'cosine'] as const) {
        expect(replicationRate(neutral, calibrateThreshold(neutral, q, by), by)).toBeLessThanOrEqual(q + 1e-12);
      }
    }
  });

  it('refuses meaningless calibrations', () => {
    expect(() => calibrateThreshold([], 0.1)).toThrow(RangeError);
    expect(() => calibrateThreshold([score(1)], 1)).toThrow(RangeError);
    expect(() => calibrateThreshold([score(1)], Number.NaN)).toThrow(RangeError);
  });
});

describe('neighbour ratio (Carlini et al.\u2019s normalised distance)', () => {
  /** one distinct memorized image, then a dense cluster of near-identical flat scenes */
  function clusteredIndex(): { train: TrainIndex; unique: Uint8Array; flat: (level: number) => Uint8Array } {
    const unique = randomImage(new Rng(11));
    const flat = (level: number) => new Uint8Array(N).fill(level);
    const images = [unique, ...Array.from({ length: 20 }, (_, i) => flat(100 + i))];
    const thumbs = new Uint8Array(images.length * 192);
    images.forEach((img, k) => thumbs.set(thumbBytes(img), k * 192));
    return {
      train: {
        memorized: unique.slice(),
        thumbnails: thumbs,
        count: images.length,
        memorizedCount: 1,
        size: S,
        thumbSize: 8,
      },
      unique,
      flat,
    };
  }

  it('is near 0 for a copy of one distinct image and names that image', () => {
    const { train, unique } = clusteredIndex();
    const r = neighbourRatio(toChw(unique), train, 10);
    expect(r.index).toBe(0);
    expect(r.memorized).toBe(true);
    expect(r.nearest).toBeLessThan(0.01);
    expect(r.ratio).toBeLessThan(0.05);
  });

  it('is far from 0 for an image that looks like many training images without copying one', () => {
    const { train, unique, flat } = clusteredIndex();
    // halfway between two cluster members: many neighbours at similar distances, none stands apart
    const between = flat(110);
    for (let i = 0; i < N; i += 2) between[i] = 111;
    const r = neighbourRatio(between, train, 10);
    expect(r.memorized).toBe(false);
    expect(r.ratio).toBeGreaterThan(0.1);
    expect(r.ratio).toBeGreaterThan(5 * neighbourRatio(toChw(unique), train, 10).ratio);
  });

  it('needs more training images than neighbours', () => {
    const { train, unique } = clusteredIndex();
    expect(() => neighbourRatio(toChw(unique), train, 30)).toThrow(RangeError);
  });
});

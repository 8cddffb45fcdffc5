import { describe, expect, it } from 'vitest';
import {
  type CopyDetector,
  type EmbeddingIndex,
  asRgbImage,
  calibrateSimilarity,
  decodeEmbeddingIndex,
  isEmbeddingCopy,
  matchEmbedding,
  matchImages,
  normalised,
} from './copy-detection';
import type { RgbImage } from './embedding';
import { calibrateCopyRules, copiedImage, copyScores, isCopy, type CopyScore } from './replication';

const unit = (...v: number[]) => normalised(Float32Array.from(v));

/** 2 planted rows then 3 scene rows in 3 dimensions. */
function index(): EmbeddingIndex {
  const rows = [unit(1, 0, 0), unit(0, 1, 0), unit(0, 0, 1), unit(0, 0.2, 1), unit(0, 0.3, 1)];
  const vectors = new Float32Array(15);
  rows.forEach((r, i) => vectors.set(r, 3 * i));
  return { vectors, count: 5, dim: 3, memorizedCount: 2 };
}

describe('embedding index files', () => {
  it('decodes int8 rows (round(127 x value)) and float32 rows, re-normalised', () => {
    const q = Int8Array.of(127, 0, 0, 64, 64, 0);
    const a = decodeEmbeddingIndex(new Uint8Array(q.buffer), { count: 2, dim: 3, memorizedCount: 1, encoding: 'int8' });
    expect(Array.from(a.vectors.subarray(0, 3))).toEqual([1, 0, 0]);
    expect(a.vectors[3]).toBeCloseTo(Math.SQRT1_2, 6);
    const f = Float32Array.of(0, 3, 4);
    const b = decodeEmbeddingIndex(new Uint8Array(f.buffer), {
      count: 1,
      dim: 3,
      memorizedCount: 0,
      encoding: 'float32',
    });
    expect(Array.from(b.vectors)).toEqual([0, expect.closeTo(0.6, 6), expect.closeTo(0.8, 6)]);
  });

  it('refuses a file whose size does not match the manifest, in words', () => {
    expect(() =>
      decodeEmbeddingIndex(new Uint8Array(5), { count: 2, dim: 3, memorizedCount: 1, encoding: 'int8' }),
    ).toThrow(/expected 2 x 3 int8 values \(6 bytes\), got 5/);
    expect(() =>
      decodeEmbeddingIndex(new Uint8Array(6), { count: 2, dim: 3, memorizedCount: 3, encoding: 'int8' }),
    ).toThrow(/more planted images than rows/);
  });
});

describe('matching and the copy decision', () => {
  it('finds the most similar image overall and among the planted ones', () => {
    const m = matchEmbedding(unit(0.2, 0, 1), index());
    expect(m.nearest).toBe(2);
    expect(m.similarity).toBeCloseTo(1 / Math.sqrt(1.04), 6);
    expect(m.planted).toBe(0);
    expect(m.plantedSimilarity).toBeCloseTo(0.2 / Math.sqrt(1.04), 6);
    expect(() => matchEmbedding(unit(1, 0), index())).toThrow(/2 values, the index 3/);
  });

  it('a copy is closest to a planted image and above tau; closest to a scene is never a copy', () => {
    const idx = index();
    expect(isEmbeddingCopy(matchEmbedding(unit(1, 0.1, 0), idx), 0.9)).toBe(true);
    expect(isEmbeddingCopy(matchEmbedding(unit(1, 0.6, 0), idx), 0.9)).toBe(false);
    expect(isEmbeddingCopy(matchEmbedding(unit(0.95, 0, 1), idx), 0.5)).toBe(false);
  });

  it('calibrates tau so that at most the chosen share of ordinary generations count (strictly above)', () => {
    const ordinary = [0.1, 0.5, 0.3, 0.9, 0.2, 0.4, 0.6, 0.7, 0.8, 0.35].map((s) => ({
      nearest: 0,
      similarity: s,
      planted: 0,
      plantedSimilarity: s,
    }));
    const tau = calibrateSimilarity(ordinary, 0.1);
    expect(tau).toBe(0.8);
    expect(ordinary.filter((m) => isEmbeddingCopy(m, tau))).toHaveLength(1);
    expect(calibrateSimilarity(ordinary, 0)).toBe(0.9);
    expect(() => calibrateSimilarity([], 0.01)).toThrow(/at least one/);
    expect(() => calibrateSimilarity(ordinary, 1)).toThrow(/quantile/);
  });
});

/** An encoder that sees only an image's mean colour: enough to exercise the batching and the rules. */
function meanColourDetector(idx: EmbeddingIndex, calls: number[]): CopyDetector {
  return {
    id: 'mean colour',
    description: 'mean colour',
    index: idx,
    async embed(images: readonly RgbImage[]) {
      calls.push(images.length);
      return images.map(({ data }) => {
        const m = [0, 1, 2].map((c) => {
          let s = 0;
          for (let p = c; p < data.length; p += 3) s += data[p];
          return s / (data.length / 3);
        });
        // not unit length on purpose: matchImages normalises
        return Float32Array.from(m);
      });
    },
  };
}

describe('scoring images with a detector', () => {
  const solid = (r: number, g: number, b: number) => {
    const img = new Float32Array(3 * 16);
    img.fill(r - 1, 0, 16);
    img.fill(g - 1, 16, 32);
    img.fill(b - 1, 32, 48);
    return img;
  };

  it('embeds in chunks and keeps the order', async () => {
    const calls: number[] = [];
    const det = meanColourDetector(index(), calls);
    const images = Array.from({ length: 5 }, (_, i) => asRgbImage(i % 2 ? solid(1, 0, 0) : solid(0, 0, 1), 4));
    const matches = await matchImages(det, images, 2);
    expect(calls).toEqual([2, 2, 1]);
    expect(matches.map((m) => m.nearest)).toEqual([2, 0, 2, 0, 2]);
  });

  it('the counted rule is the detector when there is one; the ratio rule still answers', async () => {
    const calls: number[] = [];
    const det = meanColourDetector(index(), calls);
    const scores: CopyScore[] = [
      { nearest: 1, planted: true, ratio: 0.2, tiledL2: 0.1, embedding: matchEmbedding(unit(1, 0.05, 0), det.index) },
      { nearest: 7, planted: false, ratio: 0.9, tiledL2: 0.9, embedding: matchEmbedding(unit(0, 0.1, 1), det.index) },
      { nearest: 0, planted: true, ratio: 0.95, tiledL2: 0.9, embedding: matchEmbedding(unit(0, 0.1, 1), det.index) },
    ];
    const t = calibrateCopyRules(scores.slice(1), 0, det);
    expect(t).toMatchObject({ rule: 'embedding', detector: 'mean colour', samples: 2 });
    expect(isCopy(scores[0], t)).toBe(true);
    expect(copiedImage(scores[0], t)).toBe(0);
    expect(copiedImage(scores[0], t, 'ratio')).toBe(1);
    const ratioOnly = calibrateCopyRules(
      scores.slice(1).map(({ embedding: _, ...s }) => s),
      0,
    );
    expect(ratioOnly).toMatchObject({ rule: 'ratio', tau: null, detector: null });
    expect(() => copiedImage(scores[0], ratioOnly, 'embedding')).toThrow(/needs a copy detector/);
    expect(() => calibrateCopyRules([{ nearest: 0, planted: true, ratio: 1, tiledL2: 1 }], 0, det)).toThrow(
      /without the copy detector/,
    );
  });

  it('copyScores adds the detector match to the ratio rule score of each image', async () => {
    // a train index of 12 tiny 4x4 images: the neighbour ratio needs 11
    const size = 4;
    const thumb = 4;
    const n = 12;
    const thumbnails = new Uint8Array(n * size * size * 3);
    for (let i = 0; i < thumbnails.length; i++) thumbnails[i] = (i * 37) % 256;
    const memorized = thumbnails.slice(0, 2 * size * size * 3);
    const train = { memorized, thumbnails, count: n, memorizedCount: 2, size, thumbSize: thumb };
    const calls: number[] = [];
    const images = [solid(1, 0, 0), solid(0, 0, 1)];
    const plain = await copyScores(images, train);
    expect(plain[0].embedding).toBeUndefined();
    const idx = { ...index(), count: 5 };
    const scored = await copyScores(images, { ...train, detector: meanColourDetector(idx, calls) });
    expect(scored.map((s) => s.embedding?.nearest)).toEqual([0, 2]);
    expect(scored[0].ratio).toBe(plain[0].ratio);
  });
});

import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RgbImage, cosineSimilarity } from './embedding';
import { ENCODER_PRESETS, onnxImageEncoder, pickEmbeddingOutput, preprocessImage } from './onnx-encoder';
import { embedReferences, replicationAgainstReferences } from './reference-replication';

const FIXTURE = 'src/core/metrics/__fixtures__/tiny-embedder';

interface Reference {
  size: number;
  mean: [number, number, number];
  std: [number, number, number];
  input: string;
  output: string;
  cases: { name: string; width: number; height: number; rgb_base64: string; embedding: number[] }[];
}

const ref = JSON.parse(readFileSync(`${FIXTURE}.reference.json`, 'utf8')) as Reference;
const images: RgbImage[] = ref.cases.map((c) => ({
  data: new Uint8Array(Buffer.from(c.rgb_base64, 'base64')),
  width: c.width,
  height: c.height,
}));
const tensor = (data: Float32Array, dims: number[]) => new ort.Tensor('float32', data, dims);
const preprocessing = { width: ref.size, height: ref.size, mean: ref.mean, std: ref.std, fit: 'stretch' as const };

let session: ort.InferenceSession;
beforeAll(async () => {
  session = await ort.InferenceSession.create(`${FIXTURE}.onnx`, { intraOpNumThreads: 1 });
});
afterAll(() => session?.release());

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('the ONNX image-embedding adapter on a fixture model', () => {
  it('gives the embeddings computed independently in numpy, through resizing, normalisation and batching', async () => {
    for (const maxBatch of [1, 2, 16]) {
      const encoder = onnxImageEncoder(session, tensor, { id: 'tiny', ...preprocessing, maxBatch });
      const vectors = await encoder.embed(images);
      expect(vectors).toHaveLength(3);
      vectors.forEach((v, i) => {
        expect(v).toHaveLength(12);
        expect(maxAbsDiff(v, ref.cases[i].embedding)).toBeLessThan(1e-4);
      });
    }
  });

  it('reads the [batch, dim] output although a feature map comes first, or the output it is told', async () => {
    expect(session.outputNames).toEqual(['feature_map', 'embedding']);
    const map = onnxImageEncoder(session, tensor, { id: 'map', ...preprocessing, output: 'feature_map' });
    const [v] = await map.embed(images.slice(0, 1));
    expect(v).toHaveLength(16 * 8 * 8);
    const shapes = { a: { dims: [2, 5, 7] }, b: { dims: [2, 9] }, c: { dims: [1, 4] } };
    expect(pickEmbeddingOutput(shapes, ['a', 'b', 'c'], 2)).toBe('b');
    expect(pickEmbeddingOutput({ a: { dims: [2, 5, 7] } }, ['a'], 2)).toBe('a');
    expect(() => pickEmbeddingOutput({ c: { dims: [1, 4] } }, ['c'], 2)).toThrow(/one row per image/);
    expect(() => pickEmbeddingOutput(shapes, ['a', 'b', 'c'], 2, 'nope')).toThrow(/no output "nope"/);
  });

  it('refuses an input the model does not have, and a wrong image size, with the names it has', async () => {
    expect(() => onnxImageEncoder(session, tensor, { id: 'x', ...preprocessing, input: 'images' })).toThrow(
      /no input "images" \(it has: pixel_values\)/,
    );
    const wrong = onnxImageEncoder(session, tensor, { id: 'x', ...preprocessing, width: 48, height: 48 });
    await expect(wrong.embed(images.slice(0, 1))).rejects.toThrow();
    await expect(wrong.embed([{ data: new Uint8Array(5), width: 2, height: 2 }])).rejects.toThrow(
      /expected 12 RGB bytes/,
    );
  });

  it('preprocesses as torchvision ToTensor + Normalize, with CLIP centre crops', () => {
    const flat: RgbImage = { data: new Uint8Array(4 * 2 * 3).fill(255), width: 4, height: 2 };
    const chw = preprocessImage(flat, { ...ENCODER_PRESETS.clip, width: 2, height: 2 });
    const [m, s] = [ENCODER_PRESETS.clip.mean, ENCODER_PRESETS.clip.std];
    expect(chw[0]).toBeCloseTo((1 - m[0]) / s[0], 5);
    expect(chw[4]).toBeCloseTo((1 - m[1]) / s[1], 5);
    expect(chw[11]).toBeCloseTo((1 - m[2]) / s[2], 5);
    // a 4x2 image whose left and right quarters differ: the centre crop keeps only the middle half
    const striped = new Uint8Array(4 * 2 * 3);
    for (let y = 0; y < 2; y++) for (const x of [0, 3]) striped.fill(200, (y * 4 + x) * 3, (y * 4 + x) * 3 + 3);
    const cropped = preprocessImage(
      { data: striped, width: 4, height: 2 },
      { ...preprocessing, width: 2, height: 2, mean: [0, 0, 0], std: [1, 1, 1], fit: 'centre-crop' },
    );
    expect(Array.from(cropped)).toEqual(new Array(12).fill(0));
    const stretched = preprocessImage(
      { data: striped, width: 4, height: 2 },
      { ...preprocessing, width: 2, height: 2, mean: [0, 0, 0], std: [1, 1, 1] },
    );
    expect(stretched[0]).toBeCloseTo(100 / 255, 5);
  });
});

describe('replication against reference images with the fixture encoder', () => {
  it('finds each generation its nearest reference and its own, and counts copies above the threshold', async () => {
    const encoder = onnxImageEncoder(session, tensor, { id: 'tiny', ...preprocessing });
    const references = await embedReferences(
      encoder,
      images.map((image, i) => ({ id: ref.cases[i].name, image })),
    );
    const self = cosineSimilarity(ref.cases[0].embedding, ref.cases[1].embedding);
    // generations: an exact copy of reference 0 (claimed as reference 1's prompt), and reference 2 itself
    const report = await replicationAgainstReferences(
      [{ image: images[0], reference: 'gradient-32' }, { image: images[2] }],
      references,
      encoder,
      0.9999,
    );
    expect(report.generations[0].nearest.id).toBe('gradient-64');
    expect(report.generations[0].nearest.similarity).toBeCloseTo(1, 5);
    expect(report.generations[0].copy).toBe(true);
    expect(report.generations[0].own).toEqual({ id: 'gradient-32', similarity: expect.closeTo(self, 4), copy: false });
    expect(report.generations[1]).toMatchObject({ nearest: { id: 'wide-32x64' }, copy: true });
    expect(report).toMatchObject({ rate: 1, count: 2, total: 2, ownRate: 0, ownCount: 0, ownTotal: 1 });
    await expect(
      replicationAgainstReferences([{ image: images[0], reference: 'missing' }], references, encoder, 0.5),
    ).rejects.toThrow(/not among the references/);
  });
});

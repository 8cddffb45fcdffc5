import { describe, expect, it } from 'vitest';
import { type RgbImage, pixelEncoder } from '../metrics/embedding';
import { wilsonInterval } from '../metrics/wilson';
import {
  type StudyReferences,
  calibrateReplication,
  conditionReplication,
  countReplications,
  embedStudyReferences,
  referenceCoverage,
} from './proxy-replication';

const SIZE = 16;
/** A picture made by f(x, y, channel) -> byte. */
const picture = (f: (x: number, y: number, c: number) => number): RgbImage => ({
  data: Uint8Array.from({ length: SIZE * SIZE * 3 }, (_, i) => f(((i / 3) % SIZE) | 0, (i / 3 / SIZE) | 0, i % 3)),
  width: SIZE,
  height: SIZE,
});
const diagonal = picture((x, y, c) => (x > y ? 200 : 30) + 10 * c);
const rings = picture((x, y) => ((x - 8) ** 2 + (y - 8) ** 2 < 20 ? 240 : 20));
const bars = picture((x) => (x % 4 < 2 ? 230 : 10));
const brightened = { ...diagonal, data: diagonal.data.map((v) => Math.min(255, v + 20)) };

function references(threshold?: number): StudyReferences {
  const encoder = { ...pixelEncoder(8), threshold };
  return {
    encoder,
    byCaption: new Map([
      ['a diagonal', { image: { id: '1.png', image: diagonal }, by: 'index' as const }],
      ['rings', { image: { id: 'rings.png', image: rings }, by: 'file name' as const }],
      ['rings again', { image: { id: 'rings.png', image: rings }, by: 'file name' as const }],
    ]),
    summaries: ['3 of 4 prompts of "set" have a reference image.'],
  };
}

describe('replication against reference images on a model without training images', () => {
  it('says which prompts have a reference and by which rule, and embeds a shared file once', async () => {
    const refs = references();
    const coverage = referenceCoverage(refs, ['a diagonal', 'rings', 'rings again', 'a cat']);
    expect(coverage).toMatchObject({
      prompts: 4,
      withReference: 3,
      byRule: { index: 1, 'file name': 2, position: 0 },
      missing: ['a cat'],
    });
    const embedded = await embedStudyReferences(refs);
    expect(embedded.vectors).toHaveLength(2);
    expect(embedded.rowOf.get('rings')).toBe(embedded.rowOf.get('rings again'));
  });

  it('calibrates on ordinary generations (the top one below 100 of them), never below the encoder’s convention', async () => {
    const loose = references(undefined);
    const refs = await embedStudyReferences(loose);
    const free = await calibrateReplication(loose.encoder, refs, [bars, brightened], 0.01);
    // the brightened diagonal is the closest ordinary image: the threshold is its similarity
    expect(free.threshold).toBe(free.ordinaryMax);
    expect(free.threshold).toBeGreaterThan(0.99);
    expect(free).toMatchObject({ samples: 2, conventional: null });
    const conventional = references(0.9);
    const withFloor = await calibrateReplication(conventional.encoder, refs, [bars], 0.01);
    expect(withFloor.calibrated).toBeLessThan(0.9); // bars resemble neither reference
    expect(withFloor).toMatchObject({ conventional: 0.9, threshold: 0.9 });
  });

  it('counts a generation as a copy of its own reference above the threshold, pooling draws with Wilson intervals', async () => {
    const refs = references(0.9);
    const embedded = await embedStudyReferences(refs);
    const one = await countReplications(
      refs.encoder,
      embedded,
      [
        { caption: 'a diagonal', image: brightened }, // its own reference, brightened: a copy
        { caption: 'rings', image: diagonal }, // another prompt's reference: not its own, but close to one
        { caption: 'rings again', image: bars },
      ],
      0.9,
    );
    expect(one).toMatchObject({ copies: 1, anyCopies: 2, total: 3 });
    const pooled = conditionReplication([one, { ...one, copies: 0 }]);
    expect(pooled).toMatchObject({ count: 1, total: 6, ...wilsonInterval(1, 6) });
    expect(pooled.anyReference).toMatchObject({ count: 4, total: 6 });
    await expect(countReplications(refs.encoder, embedded, [{ caption: 'a cat', image: bars }], 0.9)).rejects.toThrow(
      /"a cat" has no reference image/,
    );
  });
});

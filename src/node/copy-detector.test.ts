/**
 * The organism's copy detector, as shipped (copy-detector.onnx + copy-index.bin through
 * onnxruntime-node), held to the lab's requirement: edited copies of every planted image are
 * detected (>= 95% of each kind of edit), ordinary scenes and neutral generations are not (<= 2%).
 *
 * The edits are ones the detector's training never used (core/metrics/image-edits.ts says which and
 * how they differ from training/memlab/copy_detector.py's). The threshold tau is the one the model
 * ships (verification.json: the 1st percentile of the organism's own generations for ordinary
 * training-scene captions, calibrated by `npm run model:verify`; verify-model.test.ts checks that
 * calibration reproduces it). A copy must also be a copy of the right image: the planted image it
 * was made from.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allOnes } from '../core/masks';
import {
  type EmbeddingMatch,
  asRgbImage,
  isEmbeddingCopy,
  matchEmbedding,
  matchImages,
  normalised,
} from '../core/metrics/copy-detection';
import {
  type Hwc,
  cropResize,
  gammaCurve,
  hsvShift,
  saltAndPepper,
  shift,
  uniformNoise,
} from '../core/metrics/image-edits';
import { toUnitHwc } from '../core/metrics/pixels';
import { encodePrompts, sampleRows } from '../core/science/batch';
import { type NodeCopyDetector, loadCopyReference } from './copy-detector';
import { type NodeModel, loadNodeModel } from './runner';

const DIR = 'public/models/memlab-organism';
const shipped = existsSync(join(DIR, 'manifest.json'))
  ? JSON.parse(readFileSync(join(DIR, 'manifest.json'), 'utf8')).files?.copyDetector
  : undefined;

/** Each kind of edit, with parameters outside what the training drew. */
const EDITS: Record<string, ((img: Hwc, k: number) => Hwc)[]> = {
  recoloured: [
    (img: Hwc) => hsvShift(img, -90),
    (img: Hwc) => hsvShift(img, -40),
    (img: Hwc) => hsvShift(img, 40, 0.6),
    (img: Hwc) => hsvShift(img, 150, 0.8),
  ],
  brightened: [0.55, 0.7, 1.45, 1.8].map((g) => (img: Hwc) => gammaCurve(img, g)),
  shifted: [
    (img: Hwc) => shift(img, 4, 0),
    (img: Hwc) => shift(img, 0, -5),
    (img: Hwc) => shift(img, -4, 4),
    (img: Hwc) => cropResize(img, 3, 4, 24),
    (img: Hwc) => cropResize(img, 0, 6, 26),
  ],
  noised: [
    (img: Hwc, k: number) => uniformNoise(img, 0.25, 100 + k),
    (img: Hwc, k: number) => uniformNoise(img, 0.35, 200 + k),
    (img: Hwc, k: number) => saltAndPepper(img, 0.03, 300 + k),
  ],
  'all four at once': [
    (img: Hwc, k: number) => uniformNoise(shift(gammaCurve(hsvShift(img, 60), 0.75), 3, -2), 0.2, 400 + k),
    (img: Hwc, k: number) =>
      saltAndPepper(cropResize(gammaCurve(hsvShift(img, -60, 0.7), 1.4), 2, 2, 27), 0.02, 500 + k),
  ],
};

describe.runIf(shipped)(`the copy detector of ${DIR}`, () => {
  let model: NodeModel;
  let detector: NodeCopyDetector;
  let tau: number;
  let neutral: EmbeddingMatch[];
  let planted: Hwc[];
  const size = 32;
  const measured: string[] = [];

  beforeAll(async () => {
    model = await loadNodeModel(DIR);
    const m = model.manifest;
    const reference = await loadCopyReference(DIR, m);
    detector = reference.detector!;
    const { width } = m.image;
    planted = Array.from({ length: m.files.trainIndex.memorizedCount }, (_, k) => ({
      data: toUnitHwc(reference.memorized.subarray(k * width * width * 3, (k + 1) * width * width * 3), width, width),
      width,
      height: width,
    }));
    // the threshold users get: the one the model ships
    const verification = JSON.parse(readFileSync(join(DIR, 'verification.json'), 'utf8')) as {
      threshold: { rule: string; tau: number };
    };
    expect(verification.threshold.rule).toBe('embedding');
    tau = verification.threshold.tau;
    // held-out compositions, one seed each (64 generations: 2% allows one flagged)
    const prompts = [...m.neutralPrompts];
    const emb = await encodePrompts(model.runner, m, prompts);
    const rows = prompts.map((_, p) => ({ prompt: p, seed: 2000, maskSet: 0 }));
    const { images } = await sampleRows(model.runner, m, emb, [allOnes(m)], rows, {
      steps: m.defaults.steps,
      guidance: m.defaults.guidance,
      keepImages: true,
    });
    neutral = await matchImages(
      detector,
      images!.map((img) => asRgbImage(img, width)),
    );
  }, 1_800_000);
  afterAll(async () => {
    console.log([`copy detector ${detector?.id}, tau ${tau?.toFixed(3)}`, ...measured].join('\n'));
    await detector?.release();
    await model?.release();
  });

  it('the shipped graph embeds the planted images where the shipped index has them', async () => {
    const embedded = await detector.embed(planted.map((p) => asRgbImage(hwcToChw(p), size)));
    const { index } = detector;
    embedded.forEach((e, k) => {
      const row = index.vectors.subarray(k * index.dim, (k + 1) * index.dim);
      const u = normalised(e);
      expect(u.reduce((s, v, j) => s + v * row[j], 0)).toBeGreaterThan(0.99);
      expect(matchEmbedding(u, index).nearest).toBe(k);
    });
  });

  for (const [kind, edits] of Object.entries(EDITS)) {
    it(`detects ${kind} copies of every planted image as copies of that image (>= 95%)`, async () => {
      const copies = planted.flatMap((img, k) =>
        edits.map((edit) => ({ k, img: asRgbImage(hwcToChw(edit(img, k)), size) })),
      );
      const matches = await matchImages(
        detector,
        copies.map((c) => c.img),
      );
      const hits = matches.filter((m, i) => isEmbeddingCopy(m, tau) && m.planted === copies[i].k).length;
      measured.push(`${kind}: ${hits} of ${copies.length} detected`);
      expect(hits / copies.length, `${hits} of ${copies.length} at tau ${tau.toFixed(3)}`).toBeGreaterThanOrEqual(0.95);
    });
  }

  it('does not flag ordinary scenes: the 10,000 training scenes in its index and 200 fresh renders (<= 2%)', async () => {
    const { index } = detector;
    // a training scene's own row is its nearest image, so ask the stricter question: is any planted image above tau?
    let close = 0;
    for (let r = index.memorizedCount; r < index.count; r++) {
      const m = matchEmbedding(index.vectors.subarray(r * index.dim, (r + 1) * index.dim), index);
      if (m.plantedSimilarity > tau) close++;
    }
    measured.push(`training scenes with a planted image above tau: ${close} of ${index.count - index.memorizedCount}`);
    expect(close / (index.count - index.memorizedCount), `${close} training scenes`).toBeLessThanOrEqual(0.02);
    const bytes = new Uint8Array(readFileSync('src/core/metrics/__fixtures__/scenes.bin'));
    const n = bytes.length / (size * size * 3);
    const scenes = Array.from({ length: n }, (_, i) =>
      asRgbImage(bytes.subarray(i * size * size * 3, (i + 1) * size * size * 3), size),
    );
    const matches = await matchImages(detector, scenes);
    const flagged = matches.filter((m) => isEmbeddingCopy(m, tau)).length;
    const nearPlanted = matches.filter((m) => m.plantedSimilarity > tau).length;
    measured.push(`fresh scene renders: ${flagged} of ${n} flagged, ${nearPlanted} with a planted image above tau`);
    expect(flagged / n).toBeLessThanOrEqual(0.02);
    expect(nearPlanted / n, `${nearPlanted} of ${n} renders above tau`).toBeLessThanOrEqual(0.02);
  });

  it('does not flag generations for held-out neutral prompts (<= 2%)', () => {
    const flagged = neutral.filter((m) => isEmbeddingCopy(m, tau)).length;
    measured.push(
      `neutral generations: ${flagged} of ${neutral.length} flagged; highest planted similarity ${Math.max(...neutral.map((m) => m.plantedSimilarity)).toFixed(3)}`,
    );
    expect(flagged / neutral.length, `${flagged} of ${neutral.length}`).toBeLessThanOrEqual(0.02);
  });
});

/** HWC float -> the pipeline's CHW float layout (what the detector is fed by the science code). */
function hwcToChw(img: Hwc): Float32Array {
  const plane = img.width * img.height;
  const out = new Float32Array(plane * 3);
  for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) out[c * plane + p] = img.data[3 * p + c];
  return out;
}

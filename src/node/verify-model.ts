/**
 * Verification of a bundled model through onnxruntime-node and the lab's own sampler: the numbers
 * behind the model card and the model tests.
 *
 *   npm run model:verify -- [--model public/models/memlab-organism] [--out report.json]
 *
 * Replication criteria (core/metrics/replication.ts), both calibrated on generations for prompts
 * that are neither memorized nor held out (the manifest's sample of ordinary training-scene
 * captions), so that at most 1% of those ordinary generations count as copies; the memorized and
 * neutral sets are measured against them, so neither rate holds by construction:
 *   - the model's copy detector (when it ships one): the most similar training image by the
 *     detector's embedding is a planted image, with cosine similarity above tau. This is the rule
 *     that counts: it sees recoloured and brightened copies.
 *   - Carlini et al.'s normalised distance, as the second column: over the 8x8 index of every
 *     training image, the distance to the nearest image divided by the mean distance to the next
 *     10 below alpha, with a planted image nearest.
 * For a memorized caption the copied image must also be its own planted image. Every rate comes
 * with its 95% Wilson interval. The full-resolution tiled L2 (Carlini's per-tile distance) to the
 * planted image is reported alongside, to show how exact the copies are. Generations run in
 * batches through the science code's sampler (the same arithmetic as generate(), batch.test.ts).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Manifest, organism } from '../core/manifest';
import { allOnes, maskSetFromPruned, type MaskSet } from '../core/masks';
import { generate, type ModelRunner } from '../core/pipeline';
import { encodePrompts, sampleRows } from '../core/science/batch';
import {
  type ATTRIBUTES,
  adherenceRates,
  adherenceScore,
  analyzeScene,
  parseSceneCaption,
  type AdherenceScore,
} from '../core/metrics/adherence';
import {
  type CopyRule,
  type CopyScore,
  type CopyThresholds,
  calibrateCopyRules,
  compareToStored,
  copiedImage,
  copyScores,
} from '../core/metrics/replication';
import { asRgbImage, normalised } from '../core/metrics/copy-detection';
import { toUnitHwc } from '../core/metrics/pixels';
import { type RateEstimate, formatRate, rateEstimate } from '../core/metrics/wilson';
import { type Command, runIfMain } from './command';
import { loadCopyReference } from './copy-detector';
import { integerOption, parseOptions } from './options';
import { loadNodeModel, readModelFile, type NodeModel } from './runner';

export interface VerifyOptions {
  /** seeds per memorized caption (default 8: 160 generations, an interval under 15 points at any rate) */
  memorizedSeeds?: number;
  /** seeds per neutral / calibration prompt (default 2) */
  neutralSeeds?: number;
  /** seeds per held-out template caption (default 8) */
  heldOutSeeds?: number;
  steps?: number;
  guidance?: number;
  /** use only the first n prompts of each set (plumbing tests) */
  limit?: number;
  onProgress?: (done: number, total: number, label: string) => void;
  /** stops at the next model call (Ctrl+C on the command line) */
  signal?: AbortSignal;
}

/** A replication figure by the rule that counts, and by each rule (embedding null without a detector). */
export interface RuleRates extends RateEstimate {
  rule: CopyRule;
  byRule: { embedding: RateEstimate | null; ratio: RateEstimate };
}

export interface VerifyReport {
  model: { id: string; version: string; trainingSteps: number; parameters: Manifest['parameters'] };
  settings: { steps: number; guidance: number; memorizedSeeds: number; neutralSeeds: number; heldOutSeeds: number };
  sizes: { textEncoderBytes: number; unetInt8Bytes: number; unetFp32Bytes: number | null; int8TotalBytes: number };
  threshold: CopyThresholds & { calibrationGenerations: number; description: string };
  memorized: {
    generations: number;
    /** share of generations that copy their own planted image (the counted rule's; = replication.rate) */
    replicationRate: number;
    replication: RuleRates;
    perEntry: {
      id: string;
      kind: string;
      caption: string;
      tiledL2: number[];
      ratio: number[];
      /** the detector's cosine similarity to the caption's own planted image (empty without a detector) */
      similarity: number[];
      /** a copy of the caption's own planted image by the counted rule */
      copiesOwn: boolean[];
    }[];
    meanTiledL2: number;
    /** template captions never trained ("... number seven"): still the template image? */
    heldOutTemplateRate: number;
    heldOutTemplate: RuleRates;
  };
  neutral: {
    generations: number;
    /** share of neutral generations that copy a planted image (= replication.rate) */
    replicationRate: number;
    replication: RuleRates;
    perPrompt: {
      prompt: string;
      plantedTiledL2: number;
      neighbourRatio: number;
      /** the detector's highest similarity to a planted image (null without a detector) */
      plantedSimilarity: number | null;
    }[];
    adherence: Record<(typeof ATTRIBUTES)[number], number> & { overall: number };
    /** chance level per attribute, for reading the adherence rates */
    chance: Record<(typeof ATTRIBUTES)[number], number>;
  };
  quantization: { maxAbsDiff: number; meanAbsDiff: number; pixelsOverOneLevel: number };
  masks: { onesEqualsUnmaskedMaxDiff: number; oneHeadZeroedMaxDiff: number };
  seconds: number;
}

async function generateImage(
  runner: ModelRunner,
  manifest: Manifest,
  prompt: string,
  seed: number,
  steps: number,
  guidance: number,
  signal?: AbortSignal,
): Promise<Float32Array[]> {
  const gen = generate(
    runner,
    manifest,
    { prompt, seed, steps, guidance, variants: [allOnes(manifest)], captureAttention: false },
    signal,
  );
  for (;;) {
    const next = await gen.next();
    if (next.done) return next.value.images;
  }
}

function maxAndMeanAbsDiff(a: Float32Array, b: Float32Array): { max: number; mean: number } {
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    sum += d;
    if (d > max) max = d;
  }
  return { max, mean: sum / a.length };
}

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);

/** The torch reference in the model directory, run through the shipped fp32 and int8 graphs. */
async function checkMasks(model: NodeModel): Promise<VerifyReport['masks']> {
  const { manifest, runner } = model;
  const ref = JSON.parse(
    new TextDecoder().decode(await readModelFile(model.dir, organism(manifest).files.reference)),
  ) as {
    input_ids: number[];
    sample: number[];
    timestep: number;
    noise_pred: number[];
  };
  const context = await runner.encodeText([ref.input_ids]);
  const feeds = (masks: MaskSet) => ({
    batch: 1,
    sample: Float32Array.from(ref.sample),
    timestep: Float32Array.of(ref.timestep),
    context,
    masks,
  });
  const ones = await runner.runUNet(feeds(allOnes(manifest)), { attention: false, values: false });
  const oneHead = await runner.runUNet(
    feeds(maskSetFromPruned(manifest, [{ mask: 'cross_attn_head_mask', layer: 0, unit: 0 }])),
    {
      attention: false,
      values: false,
    },
  );
  return {
    onesEqualsUnmaskedMaxDiff: maxAndMeanAbsDiff(ones.noise, Float32Array.from(ref.noise_pred)).max,
    oneHeadZeroedMaxDiff: maxAndMeanAbsDiff(oneHead.noise, ones.noise).max,
  };
}

/** Rates of a set of scores by each rule; `own` (per score): the planted image that counts as copied, or any. */
function ruleRates(scores: readonly CopyScore[], t: CopyThresholds, own?: readonly number[]): RuleRates {
  const count = (rule: CopyRule) =>
    scores.filter((s, i) => {
      const copied = copiedImage(s, t, rule);
      return copied >= 0 && (own === undefined || copied === own[i]);
    }).length;
  const byRule = {
    embedding: t.tau === null ? null : rateEstimate(count('embedding'), scores.length),
    ratio: rateEstimate(count('ratio'), scores.length),
  };
  return { ...(byRule[t.rule] as RateEstimate), rule: t.rule, byRule };
}

export async function verifyModel(dir: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const started = performance.now();
  const model = await loadNodeModel(dir, { precision: 'int8' });
  const { manifest, runner } = model;
  const steps = options.steps ?? manifest.defaults.steps;
  const guidance = options.guidance ?? manifest.defaults.guidance;
  const memorizedSeeds = options.memorizedSeeds ?? 8;
  const neutralSeeds = options.neutralSeeds ?? 2;
  const heldOutSeeds = options.heldOutSeeds ?? 8;
  const reference = await loadCopyReference(dir, manifest);
  const first = <T>(xs: T[]) => xs.slice(0, options.limit ?? xs.length);
  const memorizedSet = first(manifest.memorized);
  const calibrationPrompts = first(manifest.trainPromptsSample);
  const neutralPrompts = first(manifest.neutralPrompts);
  const { width } = manifest.image;
  const heldOut = memorizedSet.flatMap((m) => m.heldOutCaptions.map((caption) => ({ m, caption })));
  const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

  // every generation of the figures in one batched run: (prompt, seed) rows per set
  const sets = {
    calibration: calibrationPrompts.flatMap((prompt) => range(neutralSeeds, 1000).map((seed) => ({ prompt, seed }))),
    memorized: memorizedSet.flatMap((m) => range(memorizedSeeds).map((seed) => ({ prompt: m.caption, seed }))),
    heldOut: heldOut.flatMap(({ caption }) => range(heldOutSeeds).map((seed) => ({ prompt: caption, seed }))),
    neutral: neutralPrompts.flatMap((prompt) => range(neutralSeeds, 2000).map((seed) => ({ prompt, seed }))),
  };
  const all = [...sets.calibration, ...sets.memorized, ...sets.heldOut, ...sets.neutral];
  const prompts = [...new Set(all.map((r) => r.prompt))];
  const promptIndex = new Map(prompts.map((p, i) => [p, i]));
  const embeddings = await encodePrompts(runner, manifest, prompts);
  const sampled = await sampleRows(
    runner,
    manifest,
    embeddings,
    [allOnes(manifest)],
    all.map((r) => ({ prompt: promptIndex.get(r.prompt)!, seed: r.seed, maskSet: 0 })),
    { steps, guidance, keepImages: true },
    { signal: options.signal, onProgress: (p) => options.onProgress?.(p.done, p.total + 2, p.stage) },
  );
  const images = sampled.images!;
  const scores = await copyScores(images, reference);
  let at = 0;
  const take = (n: number) => {
    at += n;
    return { images: images.slice(at - n, at), scores: scores.slice(at - n, at) };
  };
  const calibration = take(sets.calibration.length);
  const memorized = take(sets.memorized.length);
  const held = take(sets.heldOut.length);
  const neutral = take(sets.neutral.length);

  // 1. calibrate both rules on ordinary training-scene prompts
  const quantile = 0.01;
  const t = calibrateCopyRules(calibration.scores, quantile, reference.detector);

  // 2. memorized captions: copies of their own planted image
  const size = width;
  const ownOf = memorizedSet.flatMap((m) => range(memorizedSeeds).map(() => m.imageIndex));
  // the detector's similarity of each generation to its caption's own planted image
  const ownSimilarity: number[] = [];
  if (reference.detector) {
    const { index } = reference.detector;
    const embedded = await reference.detector.embed(memorized.images.map((img) => asRgbImage(img, size)));
    embedded.forEach((e, i) => {
      const row = index.vectors.subarray(ownOf[i] * index.dim, (ownOf[i] + 1) * index.dim);
      ownSimilarity.push(normalised(e).reduce((sum, v, j) => sum + v * row[j], 0));
    });
  }
  const perEntry: VerifyReport['memorized']['perEntry'] = memorizedSet.map((m, e) => {
    const part = range(memorizedSeeds).map((s) => e * memorizedSeeds + s);
    const similarity = ownSimilarity.length ? part.map((i) => ownSimilarity[i]) : [];
    return {
      id: m.id,
      kind: m.kind,
      caption: m.caption,
      tiledL2: part.map(
        (i) =>
          compareToStored(toUnitHwc(memorized.images[i], size, size), reference.memorized, m.imageIndex, size).tiledL2,
      ),
      ratio: part.map((i) => memorized.scores[i].ratio),
      similarity,
      copiesOwn: part.map((i) => copiedImage(memorized.scores[i], t) === m.imageIndex),
    };
  });
  const allMem = perEntry.flatMap((e) => e.tiledL2);
  const heldOwn = heldOut.flatMap(({ m }) => range(heldOutSeeds).map(() => m.imageIndex));
  const heldOutTemplate = ruleRates(held.scores, t, heldOwn);
  const memorizedRates = ruleRates(memorized.scores, t, ownOf);

  // 3. held-out neutral prompts: copies of any planted image, and prompt adherence
  const perNeutral: VerifyReport['neutral']['perPrompt'] = [];
  const adherence: AdherenceScore[] = [];
  sets.neutral.forEach(({ prompt }, i) => {
    const score = neutral.scores[i];
    perNeutral.push({
      prompt,
      plantedTiledL2: score.tiledL2,
      neighbourRatio: score.ratio,
      plantedSimilarity: score.embedding?.plantedSimilarity ?? null,
    });
    const intended = parseSceneCaption(prompt, manifest.palette);
    if (intended) adherence.push(adherenceScore(analyzeScene(neutral.images[i], manifest.palette, width), intended));
  });
  const neutralRates = ruleRates(neutral.scores, t);
  const p = manifest.palette;
  const chance = {
    background: 1 / Object.keys(p.backgrounds).length,
    colour: 1 / Object.keys(p.colours).length,
    shape: 1 / p.shapes.length,
    size: 1 / Object.keys(p.sizes).length,
    position: 1 / Object.keys(p.positions).length,
  };
  let done = all.length;
  const total = all.length + 2;
  const tick = (label: string) => options.onProgress?.(++done, total, label);

  // 4. int8 against fp32, same prompt and seed
  const fp32 = await loadNodeModel(dir, { precision: 'fp32' });
  const prompt = manifest.memorized[0]?.caption ?? manifest.neutralPrompts[0];
  const [a] = await generateImage(runner, manifest, prompt, 0, steps, guidance, options.signal);
  tick('int8');
  const [b] = await generateImage(fp32.runner, manifest, prompt, 0, steps, guidance, options.signal);
  tick('fp32');
  const q = maxAndMeanAbsDiff(a, b);
  let overOneLevel = 0;
  for (let i = 0; i < a.length; i++) if (Math.abs(a[i] - b[i]) * 127.5 > 1) overOneLevel++;
  const masks = await checkMasks(fp32);
  await fp32.release();
  await model.release();
  await reference.detector?.release();

  const f = organism(manifest).files;
  return {
    model: {
      id: manifest.id,
      version: manifest.version,
      trainingSteps: manifest.trainingSteps,
      parameters: manifest.parameters,
    },
    settings: { steps, guidance, memorizedSeeds, neutralSeeds, heldOutSeeds },
    sizes: {
      textEncoderBytes: f.textEncoder.bytes,
      unetInt8Bytes: f.unet.int8.bytes,
      unetFp32Bytes: f.unet.fp32?.bytes ?? null,
      int8TotalBytes: f.textEncoder.bytes + f.unet.int8.bytes,
    },
    threshold: {
      ...t,
      calibrationGenerations: calibration.scores.length,
      description:
        'embedding: the most similar training image by the copy detector is a planted one, cosine above tau; ratio: nearest / mean of next 10 RMSE over the 8x8 index of all training images (Carlini et al.) below alpha with a planted image nearest; both thresholds at the 1st percentile of ordinary training-scene generations; memorized generations must copy their own planted image',
    },
    memorized: {
      generations: allMem.length,
      replicationRate: memorizedRates.rate,
      replication: memorizedRates,
      perEntry,
      meanTiledL2: mean(allMem),
      heldOutTemplateRate: heldOutTemplate.rate,
      heldOutTemplate,
    },
    neutral: {
      generations: neutral.scores.length,
      replicationRate: neutralRates.rate,
      replication: neutralRates,
      perPrompt: perNeutral,
      adherence: adherenceRates(adherence),
      chance,
    },
    quantization: { maxAbsDiff: q.max, meanAbsDiff: q.mean, pixelsOverOneLevel: overOneLevel / a.length },
    masks,
    seconds: (performance.now() - started) / 1000,
  };
}

export const VERIFY_USAGE = `usage: npm run model:verify -- [--model public/models/memlab-organism]
  [--out <model>/verification.json]   where the full report goes
  [--memorized-seeds 8]               seeds per memorized caption
  [--neutral-seeds 2]                 seeds per neutral and calibration prompt
  [--held-out-seeds 8]                seeds per held-out template caption`;

export const verifyCommand: Command = {
  usage: VERIFY_USAGE,
  cancellable: true,
  async run(argv, signal) {
    const values = parseOptions(argv, {
      model: { type: 'string', default: 'public/models/memlab-organism' },
      out: { type: 'string' },
      'memorized-seeds': { type: 'string', default: '8' },
      'neutral-seeds': { type: 'string', default: '2' },
      'held-out-seeds': { type: 'string', default: '8' },
    });
    const dir = values.model;
    const report = await verifyModel(dir, {
      memorizedSeeds: integerOption('memorized-seeds', values['memorized-seeds'], 1),
      neutralSeeds: integerOption('neutral-seeds', values['neutral-seeds'], 1),
      heldOutSeeds: integerOption('held-out-seeds', values['held-out-seeds'], 1),
      signal,
      onProgress: (d, t) => {
        if (d % 20 === 0 || d === t) process.stderr.write(`  ${d}/${t}\n`);
      },
    });
    const { perEntry, ...memorizedSummary } = report.memorized;
    const { perPrompt, ...neutralSummary } = report.neutral;
    console.log(JSON.stringify({ ...report, memorized: memorizedSummary, neutral: neutralSummary }, null, 1));
    for (const e of perEntry)
      console.log(
        `${e.id.padEnd(22)} tiled L2 ${e.tiledL2.map((d) => d.toFixed(3)).join(' ')}${e.similarity.length ? `  similarity ${e.similarity.map((d) => d.toFixed(2)).join(' ')}` : ''}`,
      );
    const line = (label: string, r: RuleRates) =>
      `${label}: ${formatRate(r)} (${r.count}/${r.total}, ${r.rule})${r.byRule.embedding ? `; ratio rule ${formatRate(r.byRule.ratio)}` : ''}`;
    console.log(line('memorized copies', report.memorized.replication));
    console.log(line('held-out templates', report.memorized.heldOutTemplate));
    console.log(line('neutral copies', report.neutral.replication));
    await writeFile(values.out ?? join(dir, 'verification.json'), `${JSON.stringify(report, null, 1)}\n`);
  },
};

await runIfMain(import.meta.url, verifyCommand);

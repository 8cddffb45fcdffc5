/**
 * Per-prompt memorization detection from a few cheap first steps, all seeds and prompts batched:
 *
 *   wen              Wen et al.: mean over the first k steps of ||eps_cond - eps_uncond||_2,
 *                    averaged over seeds (higher: memorized)
 *   entropy          Ren et al.: entropy of the cross-attention distribution over the prompt's real
 *                    tokens (padding excluded), divided by ln(real tokens) so that prompts of
 *                    different lengths compare (a 6-token caption cannot reach a 12-token one's
 *                    raw maximum), mean over layers, the first k steps and seeds. Memorized prompts
 *                    spread attention over their (trigger) tokens instead of parking it on <bos>
 *                    (higher: memorized)
 *   bosMass          Ren et al.: attention mass on <bos>, same averaging (lower: memorized)
 *   seedConsistency  NeMo: max pairwise SSIM of the first-step noise differences eps_cond - eps_uncond
 *                    across seeds (higher: memorized); seedConsistencyMean is the mean pairwise SSIM
 *
 * One sampleRows() pass of k steps gives all four: the first step of each row is NeMo's, the k
 * steps are Wen's, and attention is reduced per row and step as it arrives.
 */
import { attentionEntropy, noiseGapScore, seedConsistency, startTokenMass } from '../metrics/detection';
import type { Manifest } from '../manifest';
import { allOnes } from '../masks';
import {
  type AttentionReduction,
  type PromptEmbeddings,
  type SampleRow,
  encodePrompts,
  sampleRows,
  unetCallsFor,
} from './batch';
import type { RunContext } from './context';
import { type ScienceRunner, samplerOf } from './sampler';

export interface DetectionOptions {
  /** seeds per prompt; NeMo's seed consistency needs at least 2 */
  seeds: readonly number[];
  /** length of the DDIM schedule whose first k steps are run */
  steps: number;
  /** first steps scored (Wen's k); also the steps Ren's statistics average over */
  k: number;
  guidance: number;
  /** rows per UNet call; default 32 */
  maxRows?: number;
}

export interface PromptDetection {
  prompt: string;
  wen: number;
  entropy: number;
  bosMass: number;
  seedConsistency: number;
  seedConsistencyMean: number;
  /** Wen's score per seed, to show the spread */
  wenPerSeed: number[];
}

export type DetectorKey = 'wen' | 'entropy' | 'bosMass' | 'seedConsistency' | 'seedConsistencyMean';

export interface DetectorInfo {
  key: DetectorKey;
  label: string;
  paper: string;
  /** +1 when higher raw values mean memorized, -1 when lower do */
  direction: 1 | -1;
}

export const DETECTORS: readonly DetectorInfo[] = [
  { key: 'wen', label: 'noise gap (first k steps)', paper: 'Wen et al. 2024', direction: 1 },
  // Ren et al.'s two statistics, oriented as measured on the model organism (step 6005, first 2
  // steps, 2 seeds): memorized prompts concentrate their cross-attention (lower entropy) and put
  // more of it on <bos>. With the opposite orientation their AUCs were 0.00 and 0.03.
  { key: 'entropy', label: 'attention entropy (÷ ln tokens)', paper: 'Ren et al. 2024', direction: -1 },
  { key: 'bosMass', label: '<bos> attention mass', paper: 'Ren et al. 2024', direction: 1 },
  { key: 'seedConsistency', label: 'seed consistency (max SSIM)', paper: 'NeMo 2024', direction: 1 },
  { key: 'seedConsistencyMean', label: 'seed consistency (mean SSIM)', paper: 'NeMo 2024', direction: 1 },
];

/** The detector's score oriented so that higher always means "more memorized" (what ROC expects). */
export function orientedScore(d: PromptDetection, detector: DetectorInfo): number {
  return detector.direction * d[detector.key];
}

/**
 * Ren et al.'s two statistics of one row and step, per layer: [entropy / ln(real tokens), <bos>
 * mass] for each layer in turn. detectEncoded sums them per prompt.
 */
export const DETECTION_ATTENTION: AttentionReduction = {
  name: 'detection/entropy-bos',
  terms(manifest, probs, tokenMask) {
    const tokens = manifest.text.maxTokens;
    const layers = manifest.unet.layers;
    const maxEntropy = Math.log(
      Math.max(
        2,
        tokenMask.reduce((s, v) => s + v, 0),
      ),
    );
    const out = new Float64Array(2 * probs.length);
    probs.forEach((layer, l) => {
      const g = { heads: layers[l].heads, pixels: layers[l].resolution ** 2, tokens };
      out[2 * l] = attentionEntropy(layer, g, { tokenMask }) / maxEntropy;
      out[2 * l + 1] = startTokenMass(layer, g, 0);
    });
    return out;
  },
};

/** Checks options before any model call, so a bad request fails at once. */
export function checkDetectionOptions(o: DetectionOptions): void {
  if (o.seeds.length < 2) throw new RangeError('detection needs at least two seeds (NeMo compares seeds)');
  if (new Set(o.seeds).size !== o.seeds.length) throw new RangeError('seeds must be distinct');
  if (!(Number.isInteger(o.k) && o.k >= 1 && o.k <= o.steps))
    throw new RangeError(`k must be a whole number in 1..steps (${o.steps}), got ${o.k}`);
}

/** UNet calls detectPrompts makes for this many prompts (for progress totals). */
export function detectionCalls(prompts: number, o: DetectionOptions): number {
  return unetCallsFor(prompts * o.seeds.length, { steps: o.steps, stopAfter: o.k, maxRows: o.maxRows });
}

/** Detection scores for already-encoded prompts (see the file comment). */
export async function detectEncoded(
  runner: ScienceRunner,
  manifest: Manifest,
  embeddings: PromptEmbeddings,
  options: DetectionOptions,
  ctx: RunContext = {},
): Promise<PromptDetection[]> {
  checkDetectionOptions(options);
  const { seeds, k } = options;
  const n = embeddings.prompts.length;
  const rows: SampleRow[] = [];
  for (let p = 0; p < n; p++) for (const seed of seeds) rows.push({ prompt: p, seed, maskSet: 0 });
  const entropy = new Float64Array(n);
  const bos = new Float64Array(n);
  const layers = manifest.unet.layers;
  const onTerms = (row: number, _step: number, terms: Float64Array) => {
    const p = rows[row].prompt;
    for (let l = 0; l < layers.length; l++) {
      entropy[p] += terms[2 * l];
      bos[p] += terms[2 * l + 1];
    }
  };
  const sampled = await sampleRows(
    runner,
    manifest,
    embeddings,
    [allOnes(manifest)],
    rows,
    {
      steps: options.steps,
      guidance: options.guidance,
      stopAfter: k,
      keepFirstDifference: true,
      reduceAttention: { reduction: DETECTION_ATTENTION, onTerms },
      maxRows: options.maxRows,
      stage: 'detect',
    },
    ctx,
  );
  const shape = samplerOf(runner, manifest).noiseShape;
  const perPrompt = seeds.length * Math.min(k, options.steps) * layers.length;
  return embeddings.prompts.map((prompt, p) => {
    const own = seeds.map((_, s) => p * seeds.length + s); // rows are prompt-major
    const wenPerSeed = own.map((i) => noiseGapScore(sampled.gaps[i], k));
    const consistency = seedConsistency(
      own.map((i) => sampled.firstDifferences![i]),
      shape,
      'max',
    );
    return {
      prompt,
      wen: wenPerSeed.reduce((s, v) => s + v, 0) / wenPerSeed.length,
      entropy: entropy[p] / perPrompt,
      bosMass: bos[p] / perPrompt,
      seedConsistency: consistency.score,
      seedConsistencyMean: consistency.pairs.reduce((s, v) => s + v, 0) / consistency.pairs.length,
      wenPerSeed,
    };
  });
}

/** Encodes the prompts, then detectEncoded. */
export async function detectPrompts(
  runner: ScienceRunner,
  manifest: Manifest,
  prompts: readonly string[],
  options: DetectionOptions,
  ctx: RunContext = {},
): Promise<PromptDetection[]> {
  checkDetectionOptions(options);
  return detectEncoded(runner, manifest, await encodePrompts(runner, manifest, prompts, ctx), options, ctx);
}

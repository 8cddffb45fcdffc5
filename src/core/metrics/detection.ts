/**
 * Memorization detectors that need no training data, and how to judge them.
 *
 *   Wen et al. (ICLR 2024)   noise gap: mean over the first k steps of ||eps_cond - eps_uncond||_2
 *   Ren et al. (ECCV 2024)   cross-attention entropy over tokens; attention mass on <bos>
 *   NeMo (NeurIPS 2024)      seed consistency: pairwise SSIM of the first-step noise difference
 *                            (eps_cond - eps_uncond) across seeds; memorized prompts pull every seed
 *                            the same way, so the differences look alike
 *   roc()                    ROC curve, AUC and TPR at a fixed FPR for any of these scores
 *
 * Layouts: attention probabilities for one layer and one image are float32 [heads, pixels, tokens]
 * (the pipeline's per-variant conditional row); noise predictions are float32 CHW [3, H, W].
 */

// ------------------------------------------------------------------ Wen et al.

/** ||a - b||_2 over all elements: the per-step noise gap (schedule.ts computes it during sampling). */
export function noiseDifferenceNorm(epsCond: Float32Array, epsUncond: Float32Array): number {
  if (epsCond.length !== epsUncond.length) throw new RangeError('noise predictions differ in size');
  let s = 0;
  for (let i = 0; i < epsCond.length; i++) {
    const d = epsCond[i] - epsUncond[i];
    s += d * d;
  }
  return Math.sqrt(s);
}

/**
 * Wen et al.'s detection score from the per-step gaps ||eps_c - eps_u||_2 (GenerateResult.noiseGaps
 * for one variant): their mean over the first k sampling steps (all steps when fewer). Large means
 * the text pulls hard on the noise, which is what a memorized prompt does.
 */
export function noiseGapScore(stepGaps: ArrayLike<number>, k: number): number {
  if (!(Number.isInteger(k) && k >= 1)) throw new RangeError('k must be a positive whole number of steps');
  const n = Math.min(k, stepGaps.length);
  if (n === 0) throw new RangeError('no steps to score');
  let s = 0;
  for (let i = 0; i < n; i++) s += stepGaps[i];
  return s / n;
}

// ------------------------------------------------------------------ Ren et al.

export interface AttentionGeometry {
  heads: number;
  /** query positions: resolution * resolution */
  pixels: number;
  tokens: number;
}

export interface EntropyOptions {
  /** tokens to include (non-zero / true); e.g. tokenMaskFromIds(ids, padId) to ignore padding.
   * Probabilities are renormalised over the included tokens. Default: all tokens. */
  tokenMask?: ArrayLike<number | boolean>;
  /**
   * 'distribution' (default, Ren et al.): entropy of the token distribution averaged over heads and
   * pixels, i.e. where the layer as a whole looks.
   * 'query': mean over heads and pixels of each query's own entropy (how peaked single queries are).
   */
  average?: 'distribution' | 'query';
}

/** 1 for real tokens, 0 for padding: ids are the tokenizer's padded ids. */
export function tokenMaskFromIds(ids: ArrayLike<number>, padId: number): Uint8Array {
  const m = new Uint8Array(ids.length);
  for (let i = 0; i < ids.length; i++) m[i] = ids[i] === padId ? 0 : 1;
  return m;
}

function checkGeometry(probs: Float32Array, g: AttentionGeometry): void {
  if (probs.length !== g.heads * g.pixels * g.tokens) {
    throw new RangeError(`attention has ${probs.length} values, expected ${g.heads} x ${g.pixels} x ${g.tokens}`);
  }
}

function entropyOf(
  p: ArrayLike<number>,
  include: ArrayLike<number | boolean> | undefined,
  offset = 0,
  n = p.length - offset,
): number {
  let total = 0;
  for (let t = 0; t < n; t++) if (!include || include[t]) total += Math.max(0, p[offset + t]);
  if (total <= 0) return 0;
  let h = 0;
  for (let t = 0; t < n; t++) {
    if (include && !include[t]) continue;
    const q = Math.max(0, p[offset + t]) / total;
    if (q > 0) h -= q * Math.log(q); // 0 log 0 = 0
  }
  return h;
}

/** Cross-attention entropy over tokens, in nats, for one layer at one step (see EntropyOptions). */
export function attentionEntropy(probs: Float32Array, g: AttentionGeometry, options: EntropyOptions = {}): number {
  checkGeometry(probs, g);
  const mask = options.tokenMask;
  if (mask && mask.length !== g.tokens) throw new RangeError('token mask length differs from the token count');
  const rows = g.heads * g.pixels;
  if (options.average === 'query') {
    let h = 0;
    for (let r = 0; r < rows; r++) h += entropyOf(probs, mask, r * g.tokens, g.tokens);
    return h / rows;
  }
  return entropyOf(tokenMass(probs, g), mask);
}

/** Mean attention per token over heads and pixels: [tokens]. */
export function tokenMass(probs: Float32Array, g: AttentionGeometry, out?: Float64Array): Float64Array {
  checkGeometry(probs, g);
  const mass = out ?? new Float64Array(g.tokens);
  mass.fill(0);
  const rows = g.heads * g.pixels;
  for (let r = 0; r < rows; r++) for (let t = 0; t < g.tokens; t++) mass[t] += probs[r * g.tokens + t];
  for (let t = 0; t < g.tokens; t++) mass[t] /= rows;
  return mass;
}

/** Mean attention on the start token over heads and pixels (Ren et al.'s <bos> mass). */
export function startTokenMass(probs: Float32Array, g: AttentionGeometry, bosIndex = 0): number {
  checkGeometry(probs, g);
  const rows = g.heads * g.pixels;
  let s = 0;
  for (let r = 0; r < rows; r++) s += probs[r * g.tokens + bosIndex];
  return s / rows;
}

/**
 * Entropy and <bos> mass for every step and layer of a generation: attention[step][layer] is one
 * image's [heads, pixels, tokens] (GenerateResult.attention[step][layer][variant] for a variant).
 */
export function attentionStatistics(
  attention: readonly (readonly Float32Array[])[],
  layers: readonly { heads: number; resolution: number }[],
  tokens: number,
  options: EntropyOptions & { bosIndex?: number } = {},
): { entropy: number[][]; startMass: number[][] } {
  const entropy: number[][] = [];
  const startMass: number[][] = [];
  for (const step of attention) {
    const e: number[] = [];
    const b: number[] = [];
    step.forEach((probs, l) => {
      const g = { heads: layers[l].heads, pixels: layers[l].resolution ** 2, tokens };
      e.push(attentionEntropy(probs, g, options));
      b.push(startTokenMass(probs, g, options.bosIndex ?? 0));
    });
    entropy.push(e);
    startMass.push(b);
  }
  return { entropy, startMass };
}

// ------------------------------------------------------------------ SSIM and NeMo seed consistency

export interface ImageShape {
  channels: number;
  height: number;
  width: number;
}

export interface SsimOptions {
  /** L in C1 = (0.01 L)^2, C2 = (0.03 L)^2. Default: max - min over both images (noise
   * differences have no fixed range), or 1 when both are constant. */
  dataRange?: number;
}

/** Gaussian window of Wang et al. (2004): 11 taps, sigma 1.5, normalised to sum 1. */
const WINDOW = (() => {
  const w = new Float64Array(11);
  let s = 0;
  for (let i = 0; i < 11; i++) s += w[i] = Math.exp(-((i - 5) ** 2) / (2 * 1.5 * 1.5));
  for (let i = 0; i < 11; i++) w[i] /= s;
  return w;
})();
const R = 5;

/** Separable Gaussian filter of one channel over the 'valid' region (no padding): output
 * (h - 10) x (w - 10). `src` may be a product image computed on the fly via `f`. */
function blurValid(f: (i: number) => number, h: number, w: number, tmp: Float64Array, out: Float64Array): void {
  const ow = w - 2 * R;
  const oh = h - 2 * R;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let k = 0; k < 11; k++) s += WINDOW[k] * f(y * w + x + k);
      tmp[y * ow + x] = s;
    }
  }
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let k = 0; k < 11; k++) s += WINDOW[k] * tmp[(y + k) * ow + x];
      out[y * ow + x] = s;
    }
  }
}

/** Local means and variances of one image, per channel: reused across all pairs in seedConsistency. */
interface LocalStats {
  mean: Float64Array[];
  variance: Float64Array[];
  min: number;
  max: number;
}

function localStats(img: Float32Array, s: ImageShape): LocalStats {
  const plane = s.height * s.width;
  const outN = (s.height - 2 * R) * (s.width - 2 * R);
  const tmp = new Float64Array(s.height * (s.width - 2 * R));
  const mean: Float64Array[] = [];
  const variance: Float64Array[] = [];
  let min = Infinity;
  let max = -Infinity;
  for (const v of img) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  for (let c = 0; c < s.channels; c++) {
    const o = c * plane;
    const m = new Float64Array(outN);
    const sq = new Float64Array(outN);
    blurValid((i) => img[o + i], s.height, s.width, tmp, m);
    blurValid((i) => img[o + i] * img[o + i], s.height, s.width, tmp, sq);
    for (let i = 0; i < outN; i++) sq[i] -= m[i] * m[i];
    mean.push(m);
    variance.push(sq);
  }
  return { mean, variance, min, max };
}

function checkShape(img: Float32Array, s: ImageShape): void {
  if (img.length !== s.channels * s.height * s.width) throw new RangeError('image size differs from its shape');
  if (s.height < 11 || s.width < 11) throw new RangeError('SSIM needs images of at least 11 x 11 pixels');
}

function ssimFromStats(
  a: Float32Array,
  b: Float32Array,
  sa: LocalStats,
  sb: LocalStats,
  s: ImageShape,
  options: SsimOptions,
): number {
  const plane = s.height * s.width;
  const outN = (s.height - 2 * R) * (s.width - 2 * R);
  const range = options.dataRange ?? (Math.max(sa.max, sb.max) - Math.min(sa.min, sb.min) || 1);
  const c1 = (0.01 * range) ** 2;
  const c2 = (0.03 * range) ** 2;
  const tmp = new Float64Array(s.height * (s.width - 2 * R));
  const cov = new Float64Array(outN);
  let total = 0;
  for (let c = 0; c < s.channels; c++) {
    const o = c * plane;
    blurValid((i) => a[o + i] * b[o + i], s.height, s.width, tmp, cov);
    const ma = sa.mean[c];
    const mb = sb.mean[c];
    const va = sa.variance[c];
    const vb = sb.variance[c];
    for (let i = 0; i < outN; i++) {
      const sab = cov[i] - ma[i] * mb[i];
      total +=
        ((2 * ma[i] * mb[i] + c1) * (2 * sab + c2)) / ((ma[i] * ma[i] + mb[i] * mb[i] + c1) * (va[i] + vb[i] + c2));
    }
  }
  return total / (s.channels * outN);
}

/**
 * Structural similarity (Wang et al. 2004) of two CHW float images: Gaussian window (11 taps,
 * sigma 1.5) over the valid region (no padding: 22 x 22 windows on 32 x 32), computed per channel
 * and averaged. 1 for identical images; near 0 for unrelated noise; negative where structure is
 * opposite but local means agree (note a vs -a is not -1: opposite means flip the luminance term too).
 */
export function ssim(a: Float32Array, b: Float32Array, shape: ImageShape, options: SsimOptions = {}): number {
  checkShape(a, shape);
  checkShape(b, shape);
  return ssimFromStats(a, b, localStats(a, shape), localStats(b, shape), shape, options);
}

export interface SeedConsistency {
  /** max (NeMo) or mean of the pairwise SSIMs */
  score: number;
  /** SSIM of every pair i < j, in order (0,1), (0,2), ..., (1,2), ... */
  pairs: number[];
}

/**
 * NeMo's memorization signal: the first-step noise differences eps_cond - eps_uncond (CHW) of one
 * prompt under several seeds, compared pairwise with SSIM. 'max' is NeMo's statistic (memorized if
 * above the neutral mean + 1 std); 'mean' is steadier with few seeds.
 */
export function seedConsistency(
  differences: readonly Float32Array[],
  shape: ImageShape,
  reduce: 'max' | 'mean' = 'max',
  options: SsimOptions = {},
): SeedConsistency {
  if (differences.length < 2) throw new RangeError('seed consistency needs at least two seeds');
  for (const d of differences) checkShape(d, shape);
  const stats = differences.map((d) => localStats(d, shape));
  const pairs: number[] = [];
  for (let i = 0; i < differences.length; i++) {
    for (let j = i + 1; j < differences.length; j++) {
      pairs.push(ssimFromStats(differences[i], differences[j], stats[i], stats[j], shape, options));
    }
  }
  const score = reduce === 'max' ? Math.max(...pairs) : pairs.reduce((s, v) => s + v, 0) / pairs.length;
  return { score, pairs };
}

// ------------------------------------------------------------------ ROC

export interface RocPoint {
  fpr: number;
  tpr: number;
  /** scores >= threshold count as positive at this point (Infinity for the (0, 0) corner) */
  threshold: number;
}

export interface Roc {
  points: RocPoint[];
  /** area under the curve; equals P(positive score > negative score) + 0.5 P(tie) */
  auc: number;
  /** best TPR with FPR at most 1% (Wen et al. report TPR@1%FPR) */
  tprAt1PctFpr: number;
}

/**
 * ROC of a detector whose score is higher for positives (memorized). Tied scores move together, so
 * ties make a diagonal segment rather than an optimistic staircase. NaN scores are refused.
 */
export function roc(positive: ArrayLike<number>, negative: ArrayLike<number>): Roc {
  const P = positive.length;
  const N = negative.length;
  if (P === 0 || N === 0) throw new RangeError('ROC needs at least one positive and one negative score');
  const all: { s: number; pos: boolean }[] = [];
  for (let i = 0; i < P; i++) all.push({ s: positive[i], pos: true });
  for (let i = 0; i < N; i++) all.push({ s: negative[i], pos: false });
  if (all.some((x) => Number.isNaN(x.s))) throw new RangeError('scores must not be NaN');
  all.sort((x, y) => y.s - x.s);
  const points: RocPoint[] = [{ fpr: 0, tpr: 0, threshold: Infinity }];
  let tp = 0;
  let fp = 0;
  let auc = 0;
  for (let i = 0; i < all.length; ) {
    const s = all[i].s;
    const tp0 = tp;
    const fp0 = fp;
    for (; i < all.length && all[i].s === s; i++) all[i].pos ? tp++ : fp++;
    auc += ((fp - fp0) / N) * ((tp + tp0) / 2 / P); // trapezoid
    points.push({ fpr: fp / N, tpr: tp / P, threshold: s });
  }
  return { points, auc, tprAt1PctFpr: tprAtFpr(points, 0.01) };
}

/** Highest TPR among operating points with FPR <= maxFpr (points from roc()). */
export function tprAtFpr(points: readonly RocPoint[], maxFpr: number): number {
  let best = 0;
  for (const p of points) if (p.fpr <= maxFpr + 1e-12 && p.tpr > best) best = p.tpr;
  return best;
}

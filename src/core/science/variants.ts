/**
 * The unlearning variants compared on one footing (issue: "the evaluation run across all variants
 * in one table"): for every model made from the same base (Forget-Me-Not, EraseDiff, each DUGE
 * stage) and the base itself, with and without each mask (no mask, the base's universal mask,
 * UniForget's presets):
 *
 *   forgotten    replication rate on the memorized entries that variant was made to forget
 *   other        replication rate on the other memorized entries (collateral forgetting)
 *   utility      neutral-prompt adherence, and RMSE against the BASE model's unpruned image for the
 *                same prompt and seed (so DUGE's erosion across stages shows as a growing change)
 *   cost         what producing the variant took (from its manifest), next to the mask's pruned share
 *
 * Every cell uses the same captions, seeds and copy rules (calibrated once on the base's unpruned
 * generations for training-scene captions, as in evaluate.ts: the copy detector's similarity when
 * the model ships one, Carlini's ratio as the second column), so rows differ only in the model and
 * the mask. Every rate carries its 95% Wilson interval; the captions of the artworks the variants
 * forget get their own (larger) seed count, so the column the table is about is the narrowest.
 * Masks apply to every
 * variant unchanged: the variants share the base's ONNX interface, and UniForget's claim that
 * pruning is complementary to unlearning is measured by exactly that combination.
 *
 * Models are loaded through `load()` one at a time and released after their rows: the lab fetches
 * a variant's files only when this job reaches it.
 */
import type { Manifest } from '../manifest';
import {
  type CopyReference,
  type CopyScore,
  calibrateCopyRules,
  copiedImage,
  copyScores,
} from '../metrics/replication';
import { type RateEstimate, rateEstimate } from '../metrics/wilson';
import { maskSetOfUnits } from '../masks';
import type { ModelRunner } from '../pipeline';
import { type SampleRow, encodePrompts, sampleRows } from './batch';
import type { RunContext } from './context';
import {
  type Calibration,
  type ReplicationSummary,
  type UtilitySummary,
  calibrationPromptsOf,
  summarizeReplication,
  summarizeUtility,
} from './evaluate';
import { neutralSplit } from './universal';

/** A model to compare; `load` is called when its turn comes, `release` after its rows. */
export interface VariantModel {
  manifest: Manifest;
  load: () => Promise<{ runner: ModelRunner; release?: () => void | Promise<void> }>;
}

/** A mask applied to every model: flat unit indices to zero, per mask input. */
export interface VariantMask {
  id: string;
  label: string;
  units: Record<string, readonly number[]>;
}

export interface VariantTableOptions {
  /** replication seeds per memorized caption */
  seeds: number[];
  /** replication seeds per caption of the forget set (the union of the variants' forgotten ids); default `seeds` */
  forgottenSeeds?: number[];
  /** seeds per evaluation neutral prompt */
  utilitySeeds: number[];
  steps: number;
  guidance: number;
  /** masks besides "none" (always first) */
  masks: VariantMask[];
  /** accepted false-positive rate of the copy rule on the base's training-scene generations (evaluate.ts) */
  calibrationQuantile: number;
  /** use only the first n neutral prompts (the evaluation half of them scores utility) */
  neutralLimit?: number;
  maxRows?: number;
}

export interface VariantCost {
  /** wall-clock seconds of the unlearning run (DUGE stage k: stages 1..k) */
  seconds: number;
  cpuSeconds: number | null;
  threads: number | null;
  steps: number;
}

export interface VariantRow {
  model: string;
  method: string | null;
  stage: number | null;
  /** memorized ids this row scores as forgotten: the variant's own; for the base, the union of all variants' */
  forgotten: string[];
  mask: string;
  maskLabel: string;
  /** share of all mask units the mask zeroes */
  prunedFraction: number;
  forgottenReplication: ReplicationSummary;
  otherReplication: ReplicationSummary;
  /** copies per memorized id by the rule that counts, and by the ratio rule (any set can be re-scored from these) */
  byEntry: Record<string, { count: number; total: number; ratioCount: number }>;
  utility: UtilitySummary;
  cost: VariantCost | null;
}

export interface VariantReport {
  schema: 'memlab-variants/2';
  base: { id: string; version: string };
  options: VariantTableOptions;
  /** the union of the variants' forgotten ids */
  forgetSet: string[];
  calibration: Calibration;
  rows: VariantRow[];
  timings: { totalMs: number; perModelMs: Record<string, number> };
}

/** Built in masks.ts (the one mask-set builder); re-exported for the science modules. */
export { maskSetOfUnits };

/** Share of all mask units a mask zeroes. */
export function prunedShare(manifest: Manifest, units: Record<string, readonly number[]>): number {
  const total = manifest.unet.masks.reduce((s, m) => s + m.layers * m.units, 0);
  const pruned = Object.values(units).reduce((s, u) => s + new Set(u).size, 0);
  return total ? pruned / total : 0;
}

/** The rows of one base and its variants: base first, then in the given order. */
export function orderVariants(models: readonly VariantModel[]): { base: VariantModel; variants: VariantModel[] } {
  const bases = models.filter((m) => !m.manifest.variant);
  if (bases.length !== 1) throw new Error(`expected exactly one base model (no "variant" field), got ${bases.length}`);
  const base = bases[0];
  const strangers = models.filter((m) => m.manifest.variant && m.manifest.variant.of !== base.manifest.id);
  if (strangers.length)
    throw new Error(`${strangers.map((m) => m.manifest.id).join(', ')} are not variants of ${base.manifest.id}`);
  return { base, variants: models.filter((m) => m !== base) };
}

/** Runs every model x mask and returns the table. */
export async function runVariantTable(
  models: readonly VariantModel[],
  train: CopyReference,
  options: VariantTableOptions,
  ctx: RunContext = {},
): Promise<VariantReport> {
  const began = performance.now();
  const { base, variants } = orderVariants(models);
  const manifest = base.manifest;
  const memorized = manifest.memorized;
  const forgetSet = [...new Set(variants.flatMap((v) => v.manifest.variant!.forgotten))];
  for (const id of forgetSet)
    if (!memorized.some((m) => m.id === id))
      throw new Error(`forgotten id "${id}" is not a memorized entry of ${manifest.id}`);
  const evaluation = neutralSplit(manifest, options.neutralLimit).evaluation;
  const calibrationPrompts = calibrationPromptsOf(manifest, options.neutralLimit);
  const neutral = evaluation.flatMap((prompt, q) => options.utilitySeeds.map((seed) => ({ prompt, q, seed })));
  const prompts = [...memorized.map((m) => m.caption), ...evaluation, ...calibrationPrompts];
  const masks: VariantMask[] = [{ id: 'none', label: 'no mask', units: {} }, ...options.masks];
  const seedsOf = memorized.map((entry) =>
    forgetSet.includes(entry.id) ? (options.forgottenSeeds ?? options.seeds) : options.seeds,
  );

  const rows: SampleRow[] = [];
  const rowOf = new Map<string, number>();
  masks.forEach((_, k) => {
    memorized.forEach((_, p) =>
      seedsOf[p].forEach(
        (seed) => (rowOf.set(`${k}/${p}/${seed}`, rows.length), rows.push({ prompt: p, seed, maskSet: k })),
      ),
    );
    evaluation.forEach((_, q) =>
      options.utilitySeeds.forEach(
        (seed) => (
          rowOf.set(`${k}/${memorized.length + q}/${seed}`, rows.length),
          rows.push({ prompt: memorized.length + q, seed, maskSet: k })
        ),
      ),
    );
  });

  let thresholds: Calibration | null = null;
  let baseNeutral: Float32Array[] = [];
  const out: VariantRow[] = [];
  const perModelMs: Record<string, number> = {};
  for (const model of [base, ...variants]) {
    const started = performance.now();
    const m = model.manifest;
    ctx.onProgress?.({ stage: `load ${m.id}`, done: 0, total: 1 });
    const { runner, release } = await model.load();
    try {
      // the base also renders the calibration captions, unmasked
      const modelRows =
        model === base
          ? [
              ...rows,
              ...calibrationPrompts.flatMap((_, q) =>
                options.utilitySeeds.map((seed) => ({
                  prompt: memorized.length + evaluation.length + q,
                  seed,
                  maskSet: 0,
                })),
              ),
            ]
          : rows;
      const maskSets = masks.map((k) => maskSetOfUnits(m, k.units));
      const emb = await encodePrompts(runner, m, prompts, ctx);
      const sampled = await sampleRows(
        runner,
        m,
        emb,
        maskSets,
        modelRows,
        {
          steps: options.steps,
          guidance: options.guidance,
          keepImages: true,
          maxRows: options.maxRows,
          stage: `sample ${m.id}`,
        },
        ctx,
      );
      const image = (k: number, p: number, seed: number) => sampled.images![rowOf.get(`${k}/${p}/${seed}`)!];
      if (model === base) {
        baseNeutral = neutral.map((n) => image(0, memorized.length + n.q, n.seed));
        const ordinary = await copyScores(sampled.images!.slice(rows.length), train);
        thresholds = calibrateCopyRules(ordinary, options.calibrationQuantile, train.detector);
      }
      const t = thresholds!;
      const forgotten = m.variant ? m.variant.forgotten : forgetSet;
      // one copy score per memorized caption and seed (a neighbour search over the whole index, and an embedding)
      const flat = await copyScores(
        masks.flatMap((_, k) => memorized.flatMap((_, p) => seedsOf[p].map((seed) => image(k, p, seed)))),
        train,
      );
      let at = 0;
      const next = (n: number) => {
        at += n;
        return flat.slice(at - n, at);
      };
      const scoresOf = masks.map(() => memorized.map((_, p) => next(seedsOf[p].length)));
      masks.forEach((mask, k) => {
        const scores: CopyScore[][] = scoresOf[k];
        const group = (inForgotten: boolean) => {
          const members = memorized
            .map((entry, p) => ({ entry, p }))
            .filter(({ entry }) => forgotten.includes(entry.id) === inForgotten);
          return summarizeReplication(
            members.flatMap(({ p }) => scores[p]),
            members.flatMap(({ entry, p }) => seedsOf[p].map(() => entry.imageIndex)),
            t,
          );
        };
        const byEntry: VariantRow['byEntry'] = {};
        memorized.forEach((entry, p) => {
          const copies = (rule: 'embedding' | 'ratio') => scores[p].filter((s) => copiedImage(s, t, rule) >= 0).length;
          byEntry[entry.id] = { count: copies(t.rule), total: scores[p].length, ratioCount: copies('ratio') };
        });
        const utility = summarizeUtility(
          m,
          neutral.map((n) => n.prompt),
          neutral.map((n) => image(k, memorized.length + n.q, n.seed)),
          baseNeutral,
        );
        const v = m.variant;
        out.push({
          model: m.id,
          method: v?.method ?? null,
          stage: v?.stage ?? null,
          forgotten: [...forgotten],
          mask: mask.id,
          maskLabel: mask.label,
          prunedFraction: prunedShare(m, mask.units),
          forgottenReplication: group(true),
          otherReplication: group(false),
          byEntry,
          utility,
          cost: v
            ? { seconds: v.costSeconds, cpuSeconds: v.cpuSeconds ?? null, threads: v.threads ?? null, steps: v.steps }
            : null,
        });
      });
    } finally {
      await release?.();
    }
    perModelMs[m.id] = performance.now() - started;
  }
  return {
    schema: 'memlab-variants/2',
    base: { id: manifest.id, version: manifest.version },
    options,
    forgetSet,
    calibration: thresholds!,
    rows: out,
    timings: { totalMs: performance.now() - began, perModelMs },
  };
}

/** Replication of a row on any set of memorized ids (from its per-entry counts), with its 95% interval. */
export function rateEstimateOn(
  row: VariantRow,
  ids: readonly string[],
  rule: 'counted' | 'ratio' = 'counted',
): RateEstimate {
  let count = 0;
  let total = 0;
  for (const id of ids) {
    const e = row.byEntry[id];
    if (!e) throw new Error(`row ${row.model}/${row.mask} has no entry "${id}"`);
    count += rule === 'ratio' ? e.ratioCount : e.count;
    total += e.total;
  }
  return rateEstimate(count, total);
}

/** Replication rate of a row on any set of memorized ids. */
export function rateOn(row: VariantRow, ids: readonly string[]): number {
  return rateEstimateOn(row, ids).rate;
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
/** "25% [18, 33] (42/168)" */
const cell = (r: RateEstimate) =>
  `${pct(r.rate)} [${(r.lo * 100).toFixed(0)}, ${(r.hi * 100).toFixed(0)}] (${r.count}/${r.total})`;

/** The table as Markdown (CLI output, issue notes): rates with 95% Wilson intervals; the ratio rule beside the detector's. */
export function variantTableMarkdown(report: VariantReport): string {
  const base = report.rows.find((r) => r.method === null && r.mask === 'none');
  const second = report.calibration.rule === 'embedding';
  const rule = second ? 'copy detector' : 'ratio rule';
  const lines = [
    `| model | mask | forgotten: replication (${rule}) | base on the same set |${second ? ' forgotten (ratio rule) |' : ''} other memorized: replication |${second ? ' other (ratio rule) |' : ''} neutral adherence | change vs base (RMSE) | units pruned | cost (s, wall) |`,
    `|---|---|---|---|${second ? '---|' : ''}---|${second ? '---|' : ''}---|---|---|---|`,
  ];
  for (const r of report.rows) {
    const name = r.method ? `${r.method}${r.stage ? ` stage ${r.stage}` : ''}` : 'base';
    const f = r.forgottenReplication;
    const o = r.otherReplication;
    lines.push(
      `| ${name} | ${r.maskLabel} | ${cell(f)} | ${base ? cell(rateEstimateOn(base, r.forgotten)) : '-'} |${second ? ` ${cell(f.byRule.ratio)} |` : ''} ${cell(o)} |${second ? ` ${cell(o.byRule.ratio)} |` : ''} ${pct(r.utility.adherence)} | ${r.utility.imageChange.toFixed(3)} | ${pct(r.prunedFraction)} | ${r.cost ? r.cost.seconds.toFixed(0) : '-'} |`,
    );
  }
  return lines.join('\n');
}

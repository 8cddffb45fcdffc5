/**
 * The science claims, tested on the trained model organism (skipped until
 * public/models/memlab-organism exists). One evaluation run in beforeAll feeds every claim; its
 * size is chosen to stay within a few minutes on 2 shared cores: 10 DDIM steps, 2 replication
 * seeds (40 generations per condition), 1 utility seed over 32 evaluation neutral prompts, the
 * default universal mask (cross-attention heads scored by ablation) at 30% and 40% with 2
 * random draws each, and first-steps detection with k = 2 over 2 seeds (claims-options.ts).
 * Copies are counted by the model's copy detector (the ratio rule rides along). With 40
 * generations a 95% Wilson interval is up to 30 points wide, so the bounds are loose; the narrow
 * intervals are in the committed verification and variant table (`npm run model:verify`,
 * `npm run eval:variants`, README). The report is written to the OS temp directory.
 *
 * Claims (budget and reasons: DEFAULT_BUDGET in core/science/evaluate.ts), each judged on the
 * interval bound least favourable to it:
 *   - Wen's detector separates memorized from neutral prompts with AUC >= 0.95
 *   - the unpruned model copies: the lower bound of its replication rate is >= 50%
 *   - the universal mask turns memorized captions away from their own planted image: that rate
 *     falls by at least a third, while neutral adherence stays within 85% of the unpruned
 *   - random masks of the same size, at their most effective, do less than half as much
 *   - the universal mask the model ships (the "Universal mask" preset) is the one measured here
 * Restated with the copy detector: by the pixel ratio rule the universal mask cut replication by
 * 89% (90% -> 10%). By the detector most of the generations it turns away from their own image
 * copy another planted artwork (recoloured or recombined), so replication of any planted image
 * barely falls; the last test holds that finding.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shippedUniversalEntry } from '../core/jobs/effects';
import { parseMaskPreset } from '../core/presets';
import { rateEstimate } from '../core/metrics/wilson';
import { type ConditionResult, type EvaluationReport, runEvaluation } from '../core/science/evaluate';
import { claimsEvaluationOptions } from './claims-options';
import { summaryLines } from './eval';
import { loadCopyReference } from './copy-detector';
import { type NodeModel, loadNodeModel, readModelFile } from './runner';

const DIR = process.env.MEMLAB_CLAIMS_MODEL ?? 'public/models/memlab-organism';

describe.runIf(existsSync(join(DIR, 'manifest.json')))(`science claims on ${DIR}`, () => {
  let model: NodeModel;
  let report: EvaluationReport;
  beforeAll(async () => {
    model = await loadNodeModel(DIR, { precision: 'int8' });
    const m = model.manifest;
    const reference = await loadCopyReference(DIR, m);
    report = await runEvaluation(model.runner, m, reference, claimsEvaluationOptions(m));
    await reference.detector?.release();
    const out = join(tmpdir(), `memlab-claims-${m.id}.json`);
    await writeFile(out, JSON.stringify(report, null, 1));
    console.log([...summaryLines(report), `report: ${out}`].join('\n'));
  }, 900_000);
  afterAll(() => model?.release());

  it('detects memorized prompts: Wen AUC >= 0.95 against neutral prompts', () => {
    const wen = report.detection.rocs.find((r) => r.key === 'wen')!;
    expect(wen.roc.auc).toBeGreaterThanOrEqual(report.budget.minDetectionAuc);
    expect(report.claims.detectionAuc.holds).toBe(true);
  });

  it('copies planted images without pruning (the baseline the reductions are measured from)', () => {
    const none = report.conditions.find((c) => c.kind === 'none')!;
    expect(none.replication.lo).toBeGreaterThanOrEqual(0.5);
  });

  it('turns memorized captions away from their own planted image with the universal mask, within the adherence budget', () => {
    const u = report.claims.universal;
    const none = condition('none', null);
    const mask = condition('universal', u.sparsity);
    // the own-image rate cut by at least a third even at the bounds least favourable to the claim
    expect(1 - ownImage(mask).hi / ownImage(none).lo).toBeGreaterThanOrEqual(1 / 3);
    expect(u.adherenceRatio).toBeGreaterThanOrEqual(1 - report.budget.maxRelativeAdherenceDrop);
  });

  it('does far less with random masks of the same size', () => {
    const u = report.claims.universal;
    const none = condition('none', null);
    const universal = 1 - ownImage(condition('universal', u.sparsity)).hi / ownImage(none).lo;
    const random = 1 - ownImage(condition('random', u.sparsity)).lo / ownImage(none).hi;
    expect(random).toBeLessThan(report.budget.maxRandomShare * universal);
  });

  it('still copies planted images under the universal mask by the copy detector (the mask redirects more than it removes)', () => {
    const u = report.claims.universal;
    const mask = condition('universal', u.sparsity);
    expect(mask.replication.rule).toBe('embedding');
    expect(mask.replication.lo).toBeGreaterThanOrEqual(0.5);
    expect(u.holds).toBe(false);
    // the ratio rule, blind to recolouring, reports the mask as removing almost every copy
    expect(mask.replication.byRule.ratio.rate).toBeLessThanOrEqual(0.2);
  });

  it('ships the universal mask it measured: the model\'s "Universal mask" preset (npm run model:presets)', async () => {
    const m = model.manifest;
    const entry = shippedUniversalEntry(m);
    expect(entry, 'manifest.json lists no universal preset: run npm run model:presets').toBeDefined();
    const preset = parseMaskPreset(JSON.parse(new TextDecoder().decode(await readModelFile(DIR, entry!))), m);
    const measured = report.conditions.find((c) => c.kind === 'universal' && c.sparsity === preset.sparsity);
    expect(measured?.units).toBeDefined();
    expect(preset.masks[measured!.mask]).toEqual(measured!.units);
    const others = Object.entries(preset.masks).filter(([name]) => name !== measured!.mask);
    expect(others.flatMap(([, units]) => units)).toEqual([]);
  });

  function condition(kind: ConditionResult['kind'], sparsity: number | null): ConditionResult {
    const c = report.conditions.find((x) => x.kind === kind && x.sparsity === sparsity);
    if (!c) throw new Error(`the report has no ${kind} condition at ${sparsity}`);
    return c;
  }
  /** the share of generations that copy their caption's own planted image, with its 95% interval */
  function ownImage(c: ConditionResult) {
    return rateEstimate(Math.round(c.replication.ownImageRate * c.replication.total), c.replication.total);
  }
});

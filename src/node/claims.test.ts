/**
 * The science claims, tested on the trained model organism (skipped until
 * public/models/memlab-organism exists). One evaluation run in beforeAll feeds every claim: 10
 * DDIM steps, 9 replication seeds per memorized caption (180 generations per condition, so every
 * replication rate's 95% Wilson interval is under 15 points wide whatever the rate), 1 utility seed
 * over 32 evaluation neutral prompts, the default universal mask (cross-attention heads scored by
 * ablation) at 30, 40 and 50% with 2 random draws each, and first-steps detection with k = 2 over
 * 2 seeds. About 45,000 UNet rows: minutes on 2 free cores, much longer on a shared machine. Copies
 * are counted by the model's copy detector (the ratio rule rides along). The report is written to
 * the OS temp directory.
 *
 * Claims (budget and reasons: DEFAULT_BUDGET in core/science/evaluate.ts), each judged on the
 * interval bound least favourable to it:
 *   - Wen's detector separates memorized from neutral prompts with AUC >= 0.95
 *   - the unpruned model copies: the lower bound of its replication rate is >= 50%
 *   - the universal mask cuts replication by >= 80% even with the pruned rate at its upper bound
 *     and the unpruned at its lower, while neutral adherence stays within 85% of the unpruned
 *   - random masks of the same size, at their most effective, cut it by less than half as much
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EvaluationReport, defaultEvaluationOptions, runEvaluation } from '../core/science/evaluate';
import { summaryLines } from './eval';
import { loadCopyReference } from './copy-detector';
import { type NodeModel, loadNodeModel } from './runner';

const DIR = process.env.MEMLAB_CLAIMS_MODEL ?? 'public/models/memlab-organism';

describe.runIf(existsSync(join(DIR, 'manifest.json')))(`science claims on ${DIR}`, () => {
  let model: NodeModel;
  let report: EvaluationReport;
  beforeAll(async () => {
    model = await loadNodeModel(DIR, { precision: 'int8' });
    const m = model.manifest;
    const steps = Math.min(10, m.defaults.steps);
    const options = defaultEvaluationOptions(m, {
      seeds: [1, 2, 3, 4, 5, 6, 7, 8, 9],
      utilitySeeds: [101],
      steps,
      sparsities: [0.3, 0.4, 0.5],
      randomDraws: 2,
      detection: { seeds: [11, 12], steps, k: 2, guidance: m.defaults.guidance },
      nemo: { enabled: false, seeds: [], maxEvaluations: 0 },
    });
    const reference = await loadCopyReference(DIR, m);
    report = await runEvaluation(model.runner, m, reference, options);
    await reference.detector?.release();
    const out = join(tmpdir(), `memlab-claims-${m.id}.json`);
    await writeFile(out, JSON.stringify(report, null, 1));
    console.log([...summaryLines(report), `report: ${out}`].join('\n'));
  }, 7_200_000);
  afterAll(() => model?.release());

  it('detects memorized prompts: Wen AUC >= 0.95 against neutral prompts', () => {
    const wen = report.detection.rocs.find((r) => r.key === 'wen')!;
    expect(wen.roc.auc).toBeGreaterThanOrEqual(report.budget.minDetectionAuc);
    expect(report.claims.detectionAuc.holds).toBe(true);
  });

  it('copies planted images without pruning (the baseline the reductions are measured from)', () => {
    const none = report.conditions.find((c) => c.kind === 'none')!;
    expect(none.replication.lo).toBeGreaterThanOrEqual(0.5);
    expect(none.replication.total).toBeGreaterThanOrEqual(167); // an interval under 15 points
  });

  it('cuts replication by >= 80% with the universal mask while neutral adherence stays within budget', () => {
    const u = report.claims.universal;
    expect(u.sparsity).not.toBeNull();
    expect(u.replicationReductionRange.lo).toBeGreaterThanOrEqual(report.budget.minReplicationReduction);
    expect(u.adherenceRatio).toBeGreaterThanOrEqual(1 - report.budget.maxRelativeAdherenceDrop);
    expect(u.holds).toBe(true);
  });

  it('does far less with random masks of the same size', () => {
    const u = report.claims.universal;
    expect(u.randomReductionRange.hi).toBeLessThan(report.budget.maxRandomShare * u.replicationReductionRange.lo);
    expect(u.randomHolds).toBe(true);
  });
});

// JSX-free (createElement) because the unit project collects *.test.ts only.
import { createElement as h } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import type { ConditionResult } from '../../../core/science/evaluate';
import { roc } from '../../../core/metrics/detection';
import { rateEstimate } from '../../../core/metrics/wilson';
import { DetectionTable, flagged } from './DetectionTable';
import { ParetoChart } from './ParetoChart';
import { RocChart } from './RocChart';

const rocs = [
  { key: 'wen' as const, label: 'noise gap', paper: 'Wen et al. 2024', roc: roc([3, 4, 5], [1, 2, 3.5]) },
  { key: 'entropy' as const, label: 'attention entropy', paper: 'Ren et al. 2024', roc: roc([1, 2], [1, 2]) },
];

function condition(
  id: string,
  kind: ConditionResult['kind'],
  sparsity: number | null,
  rate: number,
  adherence: number,
): ConditionResult {
  return {
    id,
    kind,
    sparsity,
    mask: 'cross_attn_head_mask',
    pruned: 10,
    prunedFraction: 0.02,
    replication: {
      ...rateEstimate(Math.round(rate * 10), 10),
      rule: 'ratio',
      ownImageRate: rate,
      meanTiledL2: 0,
      byRule: { embedding: null, ratio: rateEstimate(Math.round(rate * 10), 10) },
    },
    utility: {
      imageChange: 0.1,
      adherence,
      adherenceByAttribute: { background: 1, colour: 1, shape: 1, size: 1, position: 1 },
    },
  };
}

describe('science charts (server-rendered markup)', () => {
  it('RocChart draws one curve per detector and a legend and table with AUC and TPR@1%FPR', () => {
    const html = renderToStaticMarkup(h(RocChart, { rocs, counts: { memorized: 3, neutral: 3 } }));
    expect(html.match(/<path d="M[^"]*" fill="none" stroke="#/g)).toHaveLength(2);
    expect(html).toContain('noise gap (Wen et al. 2024): AUC 0.889, TPR@1%FPR 0.67');
    expect(html).toContain('<td>0.500</td>');
    expect(html).toContain('3 memorized, 3 neutral prompts');
  });

  it('ParetoChart draws universal and random series, marks the selected sparsity and makes universal points keyboard-pickable', () => {
    const conditions = [
      condition('none', 'none', null, 0.9, 0.8),
      condition('universal@0.05', 'universal', 0.05, 0.1, 0.75),
      condition('universal@0.1', 'universal', 0.1, 0.05, 0.7),
      condition('random@0.05', 'random', 0.05, 0.85, 0.78),
      condition('random@0.1', 'random', 0.1, 0.8, 0.76),
    ];
    const html = renderToStaticMarkup(
      h(ParetoChart, { conditions, selectedSparsity: 0.1, onSelectSparsity: () => {} }),
    );
    expect(html.match(/role="button"/g)).toHaveLength(2);
    expect(html.match(/<circle r="9"/g)).toHaveLength(1);
    for (const label of ['universal mask', 'random mask (same size)', 'no pruning']) expect(html).toContain(label);
    expect(html).toContain('<th scope="row">random@0.1</th>');
    const passive = renderToStaticMarkup(h(ParetoChart, { conditions }));
    expect(passive).not.toContain('role="button"');
  });

  it('DetectionTable lists every prompt with its group and flags scores on the memorized side of a threshold', () => {
    const prompts = [
      { prompt: 'a painting of zephyr', group: 'memorized' as const },
      { prompt: 'a red circle', group: 'neutral' as const },
    ];
    const s = (wen: number, bosMass: number) => ({
      prompt: '',
      wen,
      entropy: 0.5,
      bosMass,
      seedConsistency: 0.2,
      seedConsistencyMean: 0.1,
      wenPerSeed: [],
    });
    const html = renderToStaticMarkup(
      h(DetectionTable, { prompts, scores: [s(5, 0.1), s(1, 0.6)], thresholds: { wen: 3, bosMass: 0.3 } }),
    );
    expect(html.match(/<tr data-group/g)).toHaveLength(2);
    expect(html.match(/\(flagged\)/g)).toHaveLength(2); // the memorized row on wen and on bosMass (lower is memorized)
    expect(flagged(0.1, 0.3, -1)).toBe(true);
    expect(flagged(0.6, 0.3, -1)).toBe(false);
    expect(flagged(1, undefined, 1)).toBe(false);
  });
});

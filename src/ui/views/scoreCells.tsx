import { useMemo } from 'react';
import { ColorLegendBox } from './ColorLegend';
import { autoDomain, type Scheme } from './colour';

/** What every grid of prunable, score-coloured cells takes (HeadGrid, NeuronStrip). */
export interface ScoreCellsProps {
  /** one score per cell, in reading order */
  scores: ArrayLike<number>;
  /** one flag per cell, reading order; true = pruned (mask 0) */
  pruned: readonly boolean[];
  onPrunedChange: (next: boolean[]) => void;
  /** legend title, e.g. "attention on “zephyr”" */
  scoreLabel: string;
  /** colour domain; default [0, max] or symmetric around 0 when scores go negative */
  scoreDomain?: readonly number[];
  scheme?: Scheme;
  formatScore?: (v: number) => string;
  /** linked view: a cell to outline (e.g. the one shown in the heatmap) */
  highlighted?: number | null;
  /** show the pruned state without letting it change (e.g. while the image cannot follow) */
  locked?: boolean;
}

/** The colour domain and scheme of a score grid: a diverging domain gets PuOr, else `sequential`. */
export function useScoreScale(
  scores: ArrayLike<number>,
  scoreDomain: readonly number[] | undefined,
  scheme: Scheme | undefined,
  sequential: Scheme,
): { domain: readonly number[]; scheme: Scheme } {
  const auto = useMemo(() => autoDomain(scores), [scores]);
  const domain = scoreDomain ?? auto.domain;
  return { domain, scheme: scheme ?? (domain.length === 3 ? 'PuOr' : sequential) };
}

/** The colour legend and the key for the pruned hatch, under a score grid. */
export function PrunedLegend({ title, scheme, domain }: { title: string; scheme: Scheme; domain: readonly number[] }) {
  return (
    <div className="mv-legend-row">
      <ColorLegendBox title={title} scheme={scheme} domain={domain} width={200} />
      <span className="mv-key">
        <span className="mv-cell mv-pruned mv-key-swatch" aria-hidden="true" /> pruned
      </span>
    </div>
  );
}

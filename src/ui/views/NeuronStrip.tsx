import { useMemo, useState } from 'react';
import { format } from 'd3';
import { ColorLegendBox } from './ColorLegend';
import { autoDomain, colourFor, type Scheme } from './colour';
import { moveFocus } from './selection';
import { useCellToggles } from './useCellToggles';

export interface NeuronStripProps {
  /** e.g. "down.8" */
  layerName: string;
  /** one score per neuron (e.g. NeMo z-score) */
  scores: ArrayLike<number>;
  /** one flag per neuron; true = pruned (mask 0) */
  pruned: readonly boolean[];
  onPrunedChange: (next: boolean[]) => void;
  scoreLabel: string;
  scoreDomain?: readonly number[];
  scheme?: Scheme;
  formatScore?: (v: number) => string;
  /** cells per row (arrow up/down move by this); default 16 */
  columns?: number;
  onHover?: (neuron: number | null) => void;
  highlighted?: number | null;
  /** show the pruned state without letting it change (e.g. while the image cannot follow) */
  locked?: boolean;
  /** what a cell is, for labels; default "value neuron" */
  unitName?: string;
}

/** One layer's value neurons as small toggle cells, wrapped in rows; same gestures as HeadGrid. */
export function NeuronStrip({
  layerName,
  scores,
  pruned,
  onPrunedChange,
  scoreLabel,
  scoreDomain,
  scheme,
  formatScore = format('.2f'),
  columns = 16,
  onHover,
  highlighted = null,
  unitName = 'value neuron',
  locked = false,
}: NeuronStripProps) {
  const count = scores.length;
  const auto = useMemo(() => autoDomain(scores), [scores]);
  const domain = scoreDomain ?? auto.domain;
  const useScheme: Scheme = scheme ?? (domain.length === 3 ? 'PuOr' : 'cividis');
  const [hover, setHover] = useState<number | null>(null);
  const { cellProps, onLeave } = useCellToggles({
    count,
    pruned,
    onPrunedChange,
    move: (i, key) => moveFocus(i, key, columns, count),
    onHover: (i) => {
      setHover(i);
      onHover?.(i);
    },
    locked,
  });
  const prunedCount = pruned.slice(0, count).filter(Boolean).length;
  const describe = (i: number) =>
    `layer ${layerName} ${unitName} ${i}, score ${formatScore(scores[i])}${pruned[i] ? ', pruned' : ''}`;

  return (
    <section
      className={`mv-view mv-neurons${locked ? ' mv-locked' : ''}`}
      aria-label={`${unitName}s of layer ${layerName}`}
    >
      <h3 className="mv-view-title">
        {layerName}: {count} {unitName}s <small>({prunedCount} pruned)</small>
      </h3>
      <div
        className="mv-neurons-grid"
        style={{ gridTemplateColumns: `repeat(${columns}, minmax(0, 1fr))` }}
        onPointerLeave={onLeave}
      >
        {Array.from({ length: count }, (_, i) => (
          <button
            key={i}
            {...cellProps(i)}
            className={`mv-cell mv-neuron${pruned[i] ? ' mv-pruned' : ''}${highlighted === i ? ' mv-highlight' : ''}`}
            style={{ backgroundColor: colourFor(scores[i], domain, useScheme) }}
            aria-label={describe(i)}
          />
        ))}
      </div>
      <p className="mv-readout" aria-hidden="true">
        {hover !== null
          ? describe(hover)
          : locked
            ? 'Locked for now.'
            : 'Click to prune; shift-click a range; arrows move.'}
      </p>
      <div className="mv-legend-row">
        <ColorLegendBox title={scoreLabel} scheme={useScheme} domain={domain} width={200} />
        <span className="mv-key">
          <span className="mv-cell mv-pruned mv-key-swatch" aria-hidden="true" /> pruned
        </span>
      </div>
    </section>
  );
}

import { useState } from 'react';
import { format } from 'd3';
import { colourFor } from './colour';
import { PrunedLegend, type ScoreCellsProps, useScoreScale } from './scoreCells';
import { moveFocus } from './selection';
import { useCellToggles } from './useCellToggles';

export interface NeuronStripProps extends ScoreCellsProps {
  /** e.g. "down.8" */
  layerName: string;
  /** cells per row (arrow up/down move by this); default 16 */
  columns?: number;
  onHover?: (neuron: number | null) => void;
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
  const { domain, scheme: useScheme } = useScoreScale(scores, scoreDomain, scheme, 'cividis');
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
      <PrunedLegend title={scoreLabel} scheme={useScheme} domain={domain} />
    </section>
  );
}

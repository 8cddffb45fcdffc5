import { type ReactNode, useMemo, useState } from 'react';
import { format } from 'd3';
import { colourFor, isDiverging, textOn } from './colour';
import { PrunedLegend, type ScoreCellsProps, useScoreScale } from './scoreCells';
import { moveFocus } from './selection';
import { useCellToggles } from './useCellToggles';

export interface HeadGridLayer {
  name: string;
  resolution: number;
  heads: number;
}

export interface HeadRef {
  layer: number;
  head: number;
  /** flat index in reading order (layer-major): the index into scores and pruned */
  index: number;
}

export interface HeadGridProps extends ScoreCellsProps {
  /** rows, in manifest order (manifest.unet.layers fits); scores and pruned are layer-major */
  layers: readonly HeadGridLayer[];
  /** linked view: report the head under the pointer or focus */
  onHover?: (head: HeadRef | null) => void;
  /** accessible name and visible heading */
  title?: string;
  /** shown after the heading, e.g. an info button that explains what a head is */
  info?: ReactNode;
}

/**
 * Layer x head grid of toggle buttons coloured by a score. Pruned heads are hatched and crossed
 * (not shown by colour alone) and announced via aria-pressed and the label.
 */
export function HeadGrid({
  layers,
  scores,
  pruned,
  onPrunedChange,
  scoreLabel,
  scoreDomain,
  scheme,
  formatScore = format('.2f'),
  onHover,
  highlighted = null,
  title = 'Cross-attention heads',
  locked = false,
  info,
}: HeadGridProps) {
  const columns = Math.max(0, ...layers.map((l) => l.heads));
  const cells = useMemo(() => {
    const out: HeadRef[] = [];
    layers.forEach((l, layer) => {
      for (let head = 0; head < l.heads; head++) out.push({ layer, head, index: out.length });
    });
    return out;
  }, [layers]);
  const { domain, scheme: useScheme } = useScoreScale(scores, scoreDomain, scheme, 'viridis');
  const [hover, setHover] = useState<HeadRef | null>(null);

  const report = (i: number | null) => {
    const c = i === null ? null : cells[i];
    setHover(c);
    onHover?.(c);
  };
  const uniform = layers.every((l) => l.heads === columns);
  const { cellProps, onLeave } = useCellToggles({
    count: cells.length,
    pruned,
    onPrunedChange,
    // Up/down by a row is exact only when every layer has the same head count; else step by one.
    move: (i, key) => moveFocus(i, key, uniform ? columns : 1, cells.length),
    onHover: report,
    locked,
  });

  const describe = (c: HeadRef) =>
    `layer ${layers[c.layer].name} head ${c.head}, score ${formatScore(scores[c.index])}${pruned[c.index] ? ', pruned' : ''}`;

  return (
    <section className={`mv-view mv-headgrid${locked ? ' mv-locked' : ''}`} aria-label={title}>
      <h3 className="mv-view-title">
        {title}
        {info}
      </h3>
      <div
        className="mv-headgrid-grid"
        style={{ gridTemplateColumns: `minmax(4.5em, auto) repeat(${columns}, minmax(2.75em, 1fr))` }}
        onPointerLeave={onLeave}
      >
        <span className="mv-headgrid-corner" aria-hidden="true">
          layer
        </span>
        {Array.from({ length: columns }, (_, h) => (
          <span key={h} className="mv-headgrid-colhead" aria-hidden="true">
            head {h}
          </span>
        ))}
        {layers.map((l, li) => (
          <div
            key={l.name}
            className="mv-headgrid-row"
            role="group"
            aria-label={`layer ${l.name}, ${l.resolution}×${l.resolution}`}
          >
            <span className="mv-headgrid-rowhead" aria-hidden="true">
              <strong>{l.name}</strong>
              <small>
                {l.resolution}×{l.resolution}
              </small>
            </span>
            {cells
              .filter((c) => c.layer === li)
              .map((c) => {
                const bg = colourFor(scores[c.index], domain, useScheme);
                return (
                  <button
                    key={c.index}
                    {...cellProps(c.index)}
                    className={`mv-cell mv-headcell${pruned[c.index] ? ' mv-pruned' : ''}${highlighted === c.index ? ' mv-highlight' : ''}`}
                    style={{ backgroundColor: bg, color: textOn(bg) }}
                    aria-label={describe(c)}
                  >
                    <span className="mv-cell-text">{formatScore(scores[c.index])}</span>
                  </button>
                );
              })}
          </div>
        ))}
      </div>
      <p className="mv-readout" aria-hidden="true">
        {hover ? describe(hover) : locked ? 'Locked for now.' : 'Click a head to prune it; shift-click prunes a range.'}
      </p>
      <PrunedLegend title={scoreLabel} scheme={useScheme} domain={domain} />
      {isDiverging(useScheme) && <p className="mv-note">Orange: positive score, purple: negative.</p>}
    </section>
  );
}

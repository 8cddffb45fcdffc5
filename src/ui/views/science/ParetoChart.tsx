import { format } from 'd3';
import type { ConditionResult } from '../../../core/science/evaluate';
import { paretoGeometry } from '../../../core/science/plot';
import { Axes } from './Axes';

export interface ParetoChartProps {
  conditions: readonly ConditionResult[];
  title?: string;
  /** the universal sparsity the slider is on: its point is ringed */
  selectedSparsity?: number | null;
  /** clicking (or pressing Enter on) a universal point picks its sparsity */
  onSelectSparsity?: (sparsity: number) => void;
}

const pct = format('.0%');

/**
 * Replication rate on memorized prompts against utility on neutral prompts, across sparsities:
 * the universal masks and the random controls as lines of markers, the unpruned model and NeMo as
 * single points. Series differ by colour, dash and marker shape.
 */
export function ParetoChart({
  conditions,
  title = 'Replication vs utility across sparsities',
  selectedSparsity = null,
  onSelectSparsity,
}: ParetoChartProps) {
  const g = paretoGeometry(conditions);
  const { frame } = g;
  return (
    <section className="mv-view mv-pareto" aria-label={title}>
      <h3 className="mv-view-title">{title}</h3>
      <svg
        width="100%"
        viewBox={`0 0 ${frame.width} ${frame.height}`}
        role="img"
        aria-label={`${title}: ${g.yLabel} against ${g.xLabel}`}
      >
        <g transform={`translate(${frame.margin.left},${frame.margin.top})`}>
          <Axes frame={frame} xTicks={g.xTicks} yTicks={g.yTicks} xLabel={g.xLabel} yLabel={g.yLabel} />
          {g.series.map((s) => (
            <g key={s.kind}>
              {s.path && (
                <path d={s.path} fill="none" stroke={s.colour} strokeWidth={2} strokeDasharray={s.dash || undefined} />
              )}
              {s.points.map((p) => {
                const pickable = s.kind === 'universal' && onSelectSparsity && p.sparsity !== null;
                const selected = s.kind === 'universal' && p.sparsity === selectedSparsity;
                return (
                  <g
                    key={p.id}
                    transform={`translate(${p.x},${p.y})`}
                    {...(pickable
                      ? {
                          role: 'button',
                          tabIndex: 0,
                          'aria-label': `${p.label}: replication ${pct(p.replication)}, adherence ${pct(p.utility)}`,
                          onClick: () => onSelectSparsity!(p.sparsity!),
                          onKeyDown: (e: React.KeyboardEvent) =>
                            (e.key === 'Enter' || e.key === ' ') && onSelectSparsity!(p.sparsity!),
                          style: { cursor: 'pointer' },
                        }
                      : {})}
                  >
                    {selected && <circle r={9} fill="none" stroke="currentColor" strokeWidth={1.5} />}
                    <path d={s.marker} fill={s.colour} stroke="#fff" strokeWidth={0.8}>
                      <title>{`${p.label}: replication ${pct(p.replication)}, adherence ${pct(p.utility)}`}</title>
                    </path>
                  </g>
                );
              })}
            </g>
          ))}
        </g>
      </svg>
      <ul className="mv-series-key mv-pareto-legend">
        {g.series.map((s) => (
          <li key={s.kind}>
            <svg width={24} height={12} aria-hidden="true">
              <line x2={24} y1={6} y2={6} stroke={s.colour} strokeWidth={2} strokeDasharray={s.dash || undefined} />
              <path transform="translate(12,6)" d={s.marker} fill={s.colour} />
            </svg>
            {s.label}
          </li>
        ))}
      </ul>
      <div className="mv-sr-only">
        <table>
          <caption>{title}</caption>
          <thead>
            <tr>
              <th scope="col">condition</th>
              <th scope="col">units pruned</th>
              <th scope="col">replication rate</th>
              <th scope="col">adherence</th>
              <th scope="col">image change (RMSE)</th>
            </tr>
          </thead>
          <tbody>
            {conditions.map((c) => (
              <tr key={c.id}>
                <th scope="row">{c.id}</th>
                <td>
                  {Math.round(c.pruned)}{' '}
                  {c.mask === 'cross_attn_head_mask'
                    ? 'heads'
                    : c.mask === 'cross_attn_value_mask'
                      ? 'value neurons'
                      : c.mask}
                </td>
                <td>{pct(c.replication.rate)}</td>
                <td>{pct(c.utility.adherence)}</td>
                <td>{c.utility.imageChange.toFixed(3)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

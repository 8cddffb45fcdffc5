import { useMemo } from 'react';
import { format, scaleBand, scaleLinear } from 'd3';
import type { LayerSummary } from '../../core/attention/summary';
import { categorical } from './colour';
import { useElementWidth } from './useElementWidth';

export interface SummarySeries {
  key: string;
  label: string;
  /** one value per layer */
  values: readonly number[];
}

export interface LayerSummaryChartProps {
  layers: readonly { name: string; resolution: number }[];
  series: readonly SummarySeries[];
  title: string;
  /** default [0, 1]: the standard series are all fractions */
  yDomain?: readonly [number, number];
  /** d3 format for values; default ".2f" */
  valueFormat?: string;
  height?: number;
}

/** The usual three series: normalised entropy over tokens, mass on <bos>, mass on one chosen token. */
export function summarySeries(
  summaries: readonly LayerSummary[],
  token?: { position: number; text: string },
): SummarySeries[] {
  const out: SummarySeries[] = [
    { key: 'entropy', label: 'entropy over tokens (÷ ln T)', values: summaries.map((s) => s.normalizedEntropy) },
    { key: 'bos', label: 'mass on <bos>', values: summaries.map((s) => s.bosMass) },
  ];
  if (token && token.position > 0) {
    out.push({
      key: `token-${token.position}`,
      label: `mass on “${token.text}”`,
      values: summaries.map((s) => s.tokenMass[token.position] ?? 0),
    });
  }
  return out;
}

const M = { top: 8, right: 8, bottom: 40, left: 36 };

/** Grouped bars: one group per layer, one bar per series, with a table behind it for screen readers. */
export function LayerSummaryChart({
  layers,
  series,
  title,
  yDomain = [0, 1],
  valueFormat = '.2f',
  height = 200,
}: LayerSummaryChartProps) {
  const [ref, width] = useElementWidth<HTMLDivElement>(480);
  const fmt = format(valueFormat);
  const innerW = Math.max(60, width - M.left - M.right);
  const innerH = height - M.top - M.bottom;
  const x = useMemo(
    () =>
      scaleBand<number>()
        .domain(layers.map((_, i) => i))
        .range([0, innerW])
        .paddingInner(0.25)
        .paddingOuter(0.1),
    [layers, innerW],
  );
  const xs = useMemo(
    () =>
      scaleBand<number>()
        .domain(series.map((_, i) => i))
        .range([0, x.bandwidth()])
        .padding(0.08),
    [series, x],
  );
  const y = useMemo(() => scaleLinear().domain([yDomain[0], yDomain[1]]).range([innerH, 0]).nice(), [yDomain, innerH]);
  const yTicks = y.ticks(4);

  return (
    <section className="mv-view mv-summary" aria-label={title}>
      <h3 className="mv-view-title">{title}</h3>
      <ul className="mv-series-key" aria-hidden="true">
        {series.map((s, i) => (
          <li key={s.key}>
            <span className="mv-swatch" style={{ background: categorical[i % categorical.length] }} />
            {s.label}
          </li>
        ))}
      </ul>
      <div ref={ref} className="mv-summary-plot">
        <svg width={width} height={height} viewBox={`0 0 ${width} ${height}`} aria-hidden="true">
          <g transform={`translate(${M.left},${M.top})`}>
            {yTicks.map((t) => (
              <g key={t} transform={`translate(0,${y(t)})`}>
                <line x2={innerW} stroke="currentColor" strokeOpacity={0.12} />
                <text x={-6} dy="0.32em" textAnchor="end" fontSize={10} fill="currentColor">
                  {fmt(t)}
                </text>
              </g>
            ))}
            {layers.map((l, li) => (
              <g key={l.name} transform={`translate(${x(li) ?? 0},0)`}>
                {series.map((s, si) => {
                  const v = s.values[li] ?? 0;
                  const top = y(Math.max(v, y.domain()[0]));
                  return (
                    <rect
                      key={s.key}
                      x={xs(si)}
                      y={top}
                      width={xs.bandwidth()}
                      height={Math.max(0, innerH - top)}
                      fill={categorical[si % categorical.length]}
                    >
                      <title>{`${l.name}: ${s.label} ${fmt(v)}`}</title>
                    </rect>
                  );
                })}
                <text
                  x={x.bandwidth() / 2}
                  y={innerH + 16}
                  textAnchor="middle"
                  fontSize={11}
                  fontWeight={600}
                  fill="currentColor"
                >
                  {l.name}
                </text>
                <text
                  x={x.bandwidth() / 2}
                  y={innerH + 30}
                  textAnchor="middle"
                  fontSize={10}
                  fill="currentColor"
                  opacity={0.7}
                >
                  {l.resolution}×{l.resolution}
                </text>
              </g>
            ))}
            <line y1={innerH} y2={innerH} x2={innerW} stroke="currentColor" strokeOpacity={0.5} />
          </g>
        </svg>
      </div>
      {/* The wrapper clips the table: a table will not shrink to the 1px of sr-only itself. */}
      <div className="mv-sr-only">
        <table>
          <caption>{title}</caption>
          <thead>
            <tr>
              <th scope="col">layer</th>
              {series.map((s) => (
                <th key={s.key} scope="col">
                  {s.label}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {layers.map((l, li) => (
              <tr key={l.name}>
                <th scope="row">{l.name}</th>
                {series.map((s) => (
                  <td key={s.key}>{fmt(s.values[li] ?? 0)}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

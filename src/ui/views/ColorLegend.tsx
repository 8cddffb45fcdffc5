import { useId } from 'react';
import { scaleLinear, format as d3format } from 'd3';
import { interpolator, type Scheme } from './colour';

export interface ColorLegendProps {
  title: string;
  scheme: Scheme;
  /** [lo, hi] or, for diverging schemes, [lo, mid, hi] */
  domain: readonly number[];
  width: number;
  x?: number;
  y?: number;
  ticks?: number;
  format?: (v: number) => string;
}

/** Height in px that ColorLegend draws (title, bar, tick labels). */
export const LEGEND_HEIGHT = 44;

/** A colour ramp with a title and tick labels, as an SVG group (place it inside an <svg>). */
export function ColorLegend({ title, scheme, domain, width, x = 0, y = 0, ticks = 5, format }: ColorLegendProps) {
  // useId gives characters that break url(#...) references; keep only safe ones.
  const id = `mv-grad-${useId().replace(/[^a-zA-Z0-9_-]/g, '')}`;
  const lo = domain[0];
  const hi = domain[domain.length - 1];
  const f = interpolator(scheme);
  // The ramp is drawn in unit space: a diverging domain puts its midpoint at the centre.
  const pos =
    domain.length === 3
      ? scaleLinear<number>()
          .domain([lo, domain[1], hi])
          .range([0, width / 2, width])
      : scaleLinear<number>().domain([lo, hi]).range([0, width]);
  // About one label per 45 px so labels never collide; d3 picks the precision for the step.
  const n = Math.max(2, Math.min(ticks, Math.floor(width / 45)));
  const tickValues = domain.length === 3 ? Array.from(new Set([lo, domain[1], hi])) : pos.ticks(n);
  const fmt = format ?? (domain.length === 3 ? d3format('.2~f') : pos.tickFormat(n));
  const stops = Array.from({ length: 17 }, (_, i) => i / 16);
  return (
    <g className="mv-legend" transform={`translate(${x},${y})`}>
      <defs>
        <linearGradient id={id} x1="0" x2="1" y1="0" y2="0">
          {stops.map((t) => (
            <stop key={t} offset={t} stopColor={f(t)} />
          ))}
        </linearGradient>
      </defs>
      <text className="mv-legend-title" x={0} y={11} fill="currentColor" fontSize={12}>
        {title}
      </text>
      <rect x={0} y={16} width={width} height={10} fill={`url(#${id})`} stroke="currentColor" strokeOpacity={0.4} />
      {tickValues.map((v) => (
        <g key={v} transform={`translate(${pos(v)},26)`}>
          <line y2={4} stroke="currentColor" />
          <text
            y={15}
            fontSize={10}
            fill="currentColor"
            textAnchor={pos(v) < 8 ? 'start' : pos(v) > width - 8 ? 'end' : 'middle'}
          >
            {fmt(v)}
          </text>
        </g>
      ))}
    </g>
  );
}

/** ColorLegend in its own <svg>, for HTML layouts. */
export function ColorLegendBox(props: Omit<ColorLegendProps, 'x' | 'y'>) {
  const w = props.width + 12;
  return (
    <svg
      className="mv-legend-box"
      width={w}
      height={LEGEND_HEIGHT}
      viewBox={`-6 0 ${w} ${LEGEND_HEIGHT}`}
      role="img"
      aria-label={`${props.title}: colour scale from ${props.domain[0]} to ${props.domain[props.domain.length - 1]}`}
    >
      <ColorLegend {...props} />
    </svg>
  );
}

/**
 * Wen et al.'s signal: ||eps(x_t, text) - eps(x_t, empty)|| per step. Memorized prompts pull the
 * text-conditioned prediction far from the unconditional one, most visibly in the first steps.
 */
import { extent, line, scaleLinear } from 'd3';

interface Props {
  gaps: number[];
}

const W = 280;
const H = 90;
const PAD = { left: 34, right: 8, top: 8, bottom: 20 };

export function NoiseGapChart({ gaps }: Props) {
  if (gaps.length === 0) return null;
  const [lo, hi] = extent(gaps) as [number, number];
  const x = scaleLinear()
    .domain([1, Math.max(2, gaps.length)])
    .range([PAD.left, W - PAD.right]);
  const y = scaleLinear()
    .domain([Math.min(0, lo), hi > 0 ? hi : 1])
    .nice()
    .range([H - PAD.bottom, PAD.top]);
  const path = line<number>()
    .x((_, i) => x(i + 1))
    .y((d) => y(d))(gaps);
  const ticks = y.ticks(3);
  return (
    <svg
      className="chart"
      viewBox={`0 0 ${W} ${H}`}
      role="img"
      aria-label={`Noise gap per step, from ${gaps[0].toFixed(2)} to ${gaps[gaps.length - 1].toFixed(2)}`}
    >
      {ticks.map((t) => (
        <g key={t}>
          <line x1={PAD.left} x2={W - PAD.right} y1={y(t)} y2={y(t)} className="grid" />
          <text x={PAD.left - 4} y={y(t)} dy="0.32em" textAnchor="end">
            {t}
          </text>
        </g>
      ))}
      <path d={path ?? ''} className="line" />
      <text x={PAD.left} y={H - 4}>
        step 1
      </text>
      <text x={W - PAD.right} y={H - 4} textAnchor="end">
        step {gaps.length}
      </text>
    </svg>
  );
}

import type { Frame, Tick } from '../../../core/science/plot';

/** Bottom and left axes with grid lines, in the inner frame's coordinates. */
export function Axes({
  frame,
  xTicks,
  yTicks,
  xLabel,
  yLabel,
}: {
  frame: Frame;
  xTicks: Tick[];
  yTicks: Tick[];
  xLabel: string;
  yLabel: string;
}) {
  const w = frame.width - frame.margin.left - frame.margin.right;
  const h = frame.height - frame.margin.top - frame.margin.bottom;
  return (
    <g>
      {yTicks.map((t) => (
        <g key={`y${t.value}`} transform={`translate(0,${t.pos})`}>
          <line x2={w} stroke="currentColor" strokeOpacity={0.12} />
          <text x={-6} dy="0.32em" textAnchor="end" fontSize={10} fill="currentColor">
            {t.label}
          </text>
        </g>
      ))}
      {xTicks.map((t) => (
        <g key={`x${t.value}`} transform={`translate(${t.pos},${h})`}>
          <line y2={4} stroke="currentColor" />
          <text y={16} textAnchor="middle" fontSize={10} fill="currentColor">
            {t.label}
          </text>
        </g>
      ))}
      <line y1={h} y2={h} x2={w} stroke="currentColor" strokeOpacity={0.6} />
      <line y2={h} stroke="currentColor" strokeOpacity={0.6} />
      <text x={w / 2} y={h + 34} textAnchor="middle" fontSize={11} fill="currentColor">
        {xLabel}
      </text>
      <text transform={`translate(-36,${h / 2}) rotate(-90)`} textAnchor="middle" fontSize={11} fill="currentColor">
        {yLabel}
      </text>
    </g>
  );
}

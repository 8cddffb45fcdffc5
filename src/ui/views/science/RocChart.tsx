import { format } from 'd3';
import { rocGeometry } from '../../../core/science/plot';
import type { DetectorRoc } from '../../../core/science/study';
import { Axes } from './Axes';

export interface RocChartProps {
  rocs: readonly DetectorRoc[];
  title?: string;
  /** number of memorized and neutral prompts, for the caption */
  counts?: { memorized: number; neutral: number };
}

const f3 = format('.3f');
const f2 = format('.2f');

/**
 * ROC curves of the detectors (memorized = positive, neutral = negative), one colour and dash
 * pattern per detector, with a legend giving AUC and TPR at 1% FPR, and the numbers as a table
 * for screen readers.
 */
export function RocChart({ rocs, title = 'Detection ROC: memorized vs neutral prompts', counts }: RocChartProps) {
  const g = rocGeometry(rocs);
  const { frame } = g;
  const caption = counts ? `${title} (${counts.memorized} memorized, ${counts.neutral} neutral prompts)` : title;
  return (
    <section className="mv-view mv-roc" aria-label={title}>
      <h3 className="mv-view-title">{title}</h3>
      <svg width="100%" viewBox={`0 0 ${frame.width} ${frame.height}`} role="img" aria-label={caption}>
        <g transform={`translate(${frame.margin.left},${frame.margin.top})`}>
          <Axes
            frame={frame}
            xTicks={g.xTicks}
            yTicks={g.yTicks}
            xLabel="false-positive rate (neutral prompts)"
            yLabel="true-positive rate (memorized)"
          />
          <path d={g.diagonal} stroke="currentColor" strokeOpacity={0.35} strokeDasharray="3 3" fill="none" />
          {g.series.map((s) => (
            <path
              key={s.key}
              d={s.path}
              fill="none"
              stroke={s.colour}
              strokeWidth={2}
              strokeDasharray={s.dash || undefined}
            >
              <title>{`${s.label}: AUC ${f3(s.auc)}`}</title>
            </path>
          ))}
        </g>
      </svg>
      <ul className="mv-series-key mv-roc-legend">
        {g.series.map((s) => (
          <li key={s.key}>
            <svg width={24} height={10} aria-hidden="true">
              <line x2={24} y1={5} y2={5} stroke={s.colour} strokeWidth={2} strokeDasharray={s.dash || undefined} />
            </svg>
            {s.label}: AUC {f3(s.auc)}, TPR@1%FPR {f2(s.tprAt1PctFpr)}
          </li>
        ))}
      </ul>
      <div className="mv-sr-only">
        <table>
          <caption>{caption}</caption>
          <thead>
            <tr>
              <th scope="col">detector</th>
              <th scope="col">AUC</th>
              <th scope="col">TPR at 1% FPR</th>
            </tr>
          </thead>
          <tbody>
            {g.series.map((s) => (
              <tr key={s.key}>
                <th scope="row">{s.label}</th>
                <td>{f3(s.auc)}</td>
                <td>{f2(s.tprAt1PctFpr)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

import { format } from 'd3';
import { DETECTORS, type DetectorKey, type PromptDetection } from '../../../core/science/detect';
import type { StudyPrompt } from '../../../core/science/study';

export interface DetectionTableProps {
  prompts: readonly StudyPrompt[];
  scores: readonly PromptDetection[];
  /** per detector key, the score at or above which a prompt is flagged (raw units); flagged cells are marked */
  thresholds?: Partial<Record<DetectorKey, number>>;
  caption?: string;
}

const f3 = format('.3f');
const GROUP_LABEL: Record<StudyPrompt['group'], string> = {
  memorized: 'memorized',
  'template-held-out': 'template, unseen number',
  neutral: 'neutral',
  unlabelled: 'unlabelled',
};

/** Whether a raw score is on the memorized side of a threshold, given the detector's direction. */
export function flagged(raw: number, threshold: number | undefined, direction: 1 | -1): boolean {
  return threshold !== undefined && direction * raw >= direction * threshold;
}

/** One row per prompt: its ground-truth group and every detector's raw score (arrows give each detector's memorized direction). */
export function DetectionTable({
  prompts,
  scores,
  thresholds = {},
  caption = 'Detection scores per prompt',
}: DetectionTableProps) {
  return (
    <div className="mv-view mv-detection-table">
      <table>
        <caption>{caption}</caption>
        <thead>
          <tr>
            <th scope="col">prompt</th>
            <th scope="col">group</th>
            {DETECTORS.map((d) => (
              <th key={d.key} scope="col" title={`${d.paper}; ${d.direction > 0 ? 'higher' : 'lower'} means memorized`}>
                {d.label} {d.direction > 0 ? '↑' : '↓'}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {prompts.map((p, i) => (
            <tr key={`${p.group}:${p.prompt}`} data-group={p.group}>
              <th scope="row">{p.prompt}</th>
              <td>{GROUP_LABEL[p.group]}</td>
              {DETECTORS.map((d) => {
                const raw = scores[i]?.[d.key] ?? Number.NaN;
                const hit = flagged(raw, thresholds[d.key], d.direction);
                return (
                  <td key={d.key} className={hit ? 'mv-flagged' : undefined}>
                    {f3(raw)}
                    {hit && <span className="mv-sr-only"> (flagged)</span>}
                    {hit && <span aria-hidden="true"> ●</span>}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** A science job's progress bar with Cancel, and the "from the cache / took n s" note of a result. */
import { JOBS, type JobPanel, type ScienceJob } from '../../core/jobs';
import { useLab, useLabActions } from '../StoreContext';

/** Whether a science job may start now: the model is loaded and no other job runs. */
export function useScienceIdle(): boolean {
  return useLab((s) => (s.status === 'ready' || s.status === 'generating') && s.science.running === null);
}

/** The running science job's progress bar and Cancel, when it is one of the jobs `panel` starts. */
export function RunningJob({ panel }: { panel: JobPanel }) {
  const run = useLab((s) => s.science.running);
  const actions = useLabActions();
  if (!run || JOBS[run.job].panel !== panel) return null;
  const share = run.total > 0 ? run.done / run.total : 0;
  const label = JOBS[run.job].label;
  return (
    <div className="science-running" data-testid="science-progress" data-job={run.job} role="status">
      <div className="lab-controls">
        <span>
          {label} — {run.stage} ({Math.round(share * 100)}%)
        </span>
        <button type="button" className="secondary small" onClick={actions.cancelScience} data-testid="science-cancel">
          Cancel
        </button>
      </div>
      <progress max={1} value={share} aria-label={`${label} progress`} style={{ width: '100%' }} />
    </div>
  );
}

/** "(cached)" or the time a result took, so a repeated question visibly costs nothing. */
export function Meta({ job }: { job: ScienceJob }) {
  const meta = useLab((s) => s.science.meta[job]);
  if (!meta) return null;
  return <span className="hint"> · {meta.cached ? 'from the cache' : `${(meta.ms / 1000).toFixed(1)} s`}</span>;
}

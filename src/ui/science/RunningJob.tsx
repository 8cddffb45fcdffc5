/**
 * A science job's progress bar with Cancel, how long it has run and about how long its stage still
 * needs, and what it is doing (which unit, which prompts); and the "from the cache / took n s"
 * note of a result.
 */
import { useEffect, useState } from 'react';
import { JOBS, type JobPanel, type ScienceJob, durationInWords, jobTiming } from '../../core/jobs';
import { useLab, useLabActions } from '../StoreContext';

/** Re-renders every second while mounted, so the elapsed time moves between progress reports. */
function useSecondTick(): number {
  const [now, setNow] = useState(() => performance.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(performance.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  return now;
}

/** Whether a science job may start now: the model is loaded and no other job runs. */
export function useScienceIdle(): boolean {
  return useLab((s) => (s.status === 'ready' || s.status === 'generating') && s.science.running === null);
}

/** The running science job's progress bar and Cancel, when it is one of the jobs `panel` starts. */
export function RunningJob({ panel }: { panel: JobPanel }) {
  const run = useLab((s) => s.science.running);
  if (!run || JOBS[run.job].panel !== panel) return null;
  return <RunningJobBar />;
}

function RunningJobBar() {
  const run = useLab((s) => s.science.running);
  const actions = useLabActions();
  const now = useSecondTick();
  if (!run) return null;
  const share = run.total > 0 ? run.done / run.total : 0;
  const label = JOBS[run.job].label;
  const timing = jobTiming(run.clock, Math.max(now, run.clock.lastAt));
  return (
    <div className="science-running" data-testid="science-progress" data-job={run.job}>
      <div className="lab-controls">
        <span role="status">
          {label} — {run.stage} ({Math.round(share * 100)}%)
        </span>
        <button type="button" className="secondary small" onClick={actions.cancelScience} data-testid="science-cancel">
          Cancel
        </button>
      </div>
      <progress max={1} value={share} aria-label={`${label} progress`} style={{ width: '100%' }} />
      <p className="hint" data-testid="science-timing">
        {durationInWords(timing.elapsedMs)} so far
        {timing.stageRemainingMs !== null
          ? ` · about ${durationInWords(timing.stageRemainingMs)} left in this stage`
          : ' · measuring the rate…'}
      </p>
      {run.detail ? (
        <p className="hint" data-testid="science-detail">
          Now: {run.detail}
        </p>
      ) : null}
    </div>
  );
}

/** "(cached)" or the time a result took, so a repeated question visibly costs nothing. */
export function Meta({ job }: { job: ScienceJob }) {
  const meta = useLab((s) => s.science.meta[job]);
  if (!meta) return null;
  return <span className="hint"> · {meta.cached ? 'from the cache' : `${(meta.ms / 1000).toFixed(1)} s`}</span>;
}

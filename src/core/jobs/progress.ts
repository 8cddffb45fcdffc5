/**
 * How long a running job has taken and about how long its current stage still needs, from the
 * rate measured since that stage's first progress report (stages differ: detection and ablation
 * calls have other sizes, so one rate for the whole job would mislead).
 */

/** When a job started, and where its current stage's rate is measured from. Times in ms of one clock. */
export interface JobClock {
  startedAt: number;
  stage: string;
  /** the stage's first report: when, and how much was done then */
  stageAt: number;
  stageDone: number;
  /** the latest report */
  lastAt: number;
  done: number;
  total: number;
}

export function startClock(now: number): JobClock {
  return { startedAt: now, stage: '', stageAt: now, stageDone: 0, lastAt: now, done: 0, total: 0 };
}

/** The clock after a progress report. */
export function advanceClock(
  clock: JobClock,
  report: { stage: string; done: number; total: number },
  now: number,
): JobClock {
  const next = { ...clock, lastAt: now, done: report.done, total: report.total };
  return report.stage === clock.stage ? next : { ...next, stage: report.stage, stageAt: now, stageDone: report.done };
}

export interface JobTiming {
  elapsedMs: number;
  /** the current stage's remaining time at its measured rate; null until two reports of it */
  stageRemainingMs: number | null;
}

export function jobTiming(clock: JobClock, now: number): JobTiming {
  const elapsedMs = Math.max(0, now - clock.startedAt);
  const work = clock.done - clock.stageDone;
  const took = clock.lastAt - clock.stageAt;
  if (!(work > 0 && took > 0)) return { elapsedMs, stageRemainingMs: null };
  const atLastReport = ((clock.total - clock.done) * took) / work;
  return { elapsedMs, stageRemainingMs: Math.max(0, atLastReport - (now - clock.lastAt)) };
}

/** "8 s", "3 min 05 s", "1 h 02 min". */
export function durationInWords(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

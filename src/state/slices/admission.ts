/**
 * The store's side of the one-job-at-a-time rule (core/session-admission.ts): what holds the
 * model session, as the store knows it. Every action that sends a generation or a science job
 * asks `admission` first, so the user hears "busy" at once rather than from the worker.
 */
import { type Admission, admitJob, type SessionJob } from '../../core/session-admission';
import type { LabData } from '../store';

export function runningJob(s: Pick<LabData, 'science' | 'generateId' | 'seedGrid'>): SessionJob | null {
  if (s.science.running) return 'science';
  if (s.generateId !== null || (s.seedGrid?.runningId ?? null) !== null) return 'generate';
  return null;
}

export function admission(s: Pick<LabData, 'science' | 'generateId' | 'seedGrid'>, next: SessionJob): Admission {
  return admitJob(runningJob(s), next);
}

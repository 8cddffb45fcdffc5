/**
 * The lab's one concurrency rule: a loaded model has one session, and it runs one computation at
 * a time. This function is the rule's only definition; the store asks it before sending (so the
 * user is told at once) and the inference worker asks it again on arrival (a safety net for
 * requests that cross in flight).
 */

/** What can hold the model session. */
export type SessionJob = 'generate' | 'science';

export type Admission =
  /** nothing holds the session: run now */
  | { action: 'start' }
  /** a generation holds it and a newer one replaces it at its next step boundary */
  | { action: 'supersede' }
  /** a generation holds it: a science job waits for it to finish rather than cancel what the user asked for */
  | { action: 'wait' }
  /** a science job holds it: a minutes-long study is not thrown away by a click, and never doubled */
  | { action: 'refuse'; message: string };

export const BUSY_GENERATE = 'A science job is running: cancel it or wait for it to finish, then generate again.';
export const BUSY_SCIENCE = 'Another science job is running: cancel it first.';

/** Whether `next` may take the session that `running` (null: nothing) holds, and how. */
export function admitJob(running: SessionJob | null, next: SessionJob): Admission {
  if (running === null) return { action: 'start' };
  if (running === 'science') return { action: 'refuse', message: next === 'generate' ? BUSY_GENERATE : BUSY_SCIENCE };
  return next === 'generate' ? { action: 'supersede' } : { action: 'wait' };
}

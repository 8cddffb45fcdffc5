/**
 * Step events into the store at most once a frame. A generation reports every denoising step, and
 * a run answered from the variant cache (core/variant-cache.ts) reports all 25 within a few
 * milliseconds: applied one by one, each would be its own task and its own render of the image,
 * the strip and the comparison, and a click right after would wait behind them. Queued steps are
 * applied together in the next frame (one render), and any other event first applies the queue,
 * so events still reach the store in the order the worker sent them.
 */
import type { WorkerEvent } from '../workers/protocol';

/** `schedule` runs its callback once, soon (the page passes requestAnimationFrame with a timeout fallback). */
export function batchSteps(
  apply: (event: WorkerEvent) => void,
  schedule: (flush: () => void) => void,
): (event: WorkerEvent) => void {
  let queued: WorkerEvent[] = [];
  let pending = false;
  const flush = () => {
    pending = false;
    const events = queued;
    queued = [];
    for (const e of events) apply(e);
  };
  return (event) => {
    if (event.type === 'step') {
      queued.push(event);
      if (!pending) {
        pending = true;
        schedule(flush);
      }
      return;
    }
    if (queued.length > 0) flush();
    apply(event);
  };
}

/** The next animation frame, or `fallbackMs` later when frames do not come (a hidden tab). */
export function nextFrameOr(fallbackMs: number): (flush: () => void) => void {
  return (flush) => {
    let done = false;
    const once = () => {
      if (done) return;
      done = true;
      flush();
    };
    requestAnimationFrame(once);
    setTimeout(once, fallbackMs);
  };
}

/**
 * Science jobs inside the inference worker (it owns the sessions): the worker's runner environment
 * for the job registry (src/core/jobs), and the dispatch of one request through it. The registry
 * answers from the per-experiment cache or runs the job.
 *
 * The runners are wrapped so that every model call first yields to the event loop: ORT's WASM runs
 * resolve as microtasks, and without a yield a Cancel message would wait for the whole job.
 */
import { type JobEnv, type ScienceJob, type ScienceOutcome, type ScienceRequest, runJob } from '../core/jobs';
import type { ModelRunner } from '../core/pipeline';
import type { Progress } from '../core/science/context';
import { yieldToEventLoop } from './yield';

/** The runner with a yield (and an abort check) before every model call; see the file comment. */
export function yieldingRunner(runner: ModelRunner, signal: AbortSignal): ModelRunner {
  const gate = async () => {
    await yieldToEventLoop();
    if (signal.aborted) throw new DOMException('aborted before a model call', 'AbortError');
  };
  return {
    encodeText: async (ids) => (await gate(), runner.encodeText(ids)),
    runUNet: async (feeds, want) => (await gate(), runner.runUNet(feeds, want)),
  };
}

/** What the worker lends a job: its loaded model, cache and loaders (the signal and progress come per job). */
export type ScienceEnv = Omit<JobEnv, 'signal' | 'onProgress'>;

/** Runs one job (or answers it from the cache); `cached` says which. */
export async function runScienceJob<J extends ScienceJob>(
  env: ScienceEnv,
  request: ScienceRequest<J>,
  signal: AbortSignal,
  onProgress: (p: Progress) => void,
): Promise<{ outcome: ScienceOutcome<J>; cached: boolean }> {
  const { openModel } = env;
  return runJob(
    {
      ...env,
      runner: yieldingRunner(env.runner, signal),
      openModel: openModel
        ? async (url, progress) => {
            const opened = await openModel(url, progress);
            return { ...opened, runner: yieldingRunner(opened.runner, signal) };
          }
        : undefined,
      signal,
      onProgress,
    },
    request,
  );
}

/**
 * Science jobs inside the inference worker (it owns the sessions): the worker's runner environment
 * for the job registry (src/core/jobs), and the dispatch of one request through it. The registry
 * answers from the per-experiment cache or runs the job.
 *
 * The runners are wrapped so that every model call first yields to the event loop: ORT's WASM runs
 * resolve as microtasks, and without a yield a Cancel message would wait for the whole job.
 */
import type { LatentModel } from '../core/diffusers/folder';
import type { LatentRunner } from '../core/diffusers/latent-pipeline';
import { type JobEnv, type ScienceJob, type ScienceOutcome, type ScienceRequest, runJob } from '../core/jobs';
import type { ModelRunner } from '../core/pipeline';
import type { Progress } from '../core/science/context';
import { latentSampler } from '../core/science/latent-sampler';
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

/** A latent model's runner with the same gate before every model call. */
export function yieldingLatentRunner(runner: LatentRunner, signal: AbortSignal): LatentRunner {
  const gate = async () => {
    await yieldToEventLoop();
    if (signal.aborted) throw new DOMException('aborted before a model call', 'AbortError');
  };
  return {
    encodeText: async (ids, batch) => (await gate(), runner.encodeText(ids, batch)),
    runUNet: async (feeds, want) => (await gate(), runner.runUNet(feeds, want)),
    decodeLatents: async (latents, batch, shape) => (await gate(), runner.decodeLatents(latents, batch, shape)),
  };
}

/** A model from a diffusers folder: its runner and what its sampler needs (tokenizer, scheduler, VAE). */
export interface LatentScienceModel {
  kind: 'latent';
  runner: LatentRunner;
  model: LatentModel;
}

/**
 * What the worker lends a job: its loaded model (the organism's runner, or a latent model the job
 * samples through core/science/latent-sampler), cache and loaders (the signal and progress come per job).
 */
export type ScienceEnv = Omit<JobEnv, 'signal' | 'onProgress' | 'runner'> & {
  runner: ModelRunner | LatentScienceModel;
};

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
      runner:
        'kind' in env.runner
          ? latentSampler(yieldingLatentRunner(env.runner.runner, signal), env.runner.model, env.manifest)
          : yieldingRunner(env.runner, signal),
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

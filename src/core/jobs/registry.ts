/**
 * The science jobs, one entry each, and every type the lab uses for them derived from the entries:
 * a job's params, result, request and outcome are looked up by its name, so adding a job is adding
 * an entry here (a panel job also gets a line in LAB_DEFAULTS; the compiler asks for it).
 */
import type { Manifest } from '../manifest';
import { cached } from '../science/cache';
import { DEFAULT_UNIVERSAL } from '../science/universal';
import { detectJob, studyJob } from './detection';
import type { JobEffects } from './effects';
import { evaluateJob } from './evaluate';
import type { JobEnv, JobSpec, PanelContext } from './job';
import { attributionJob, nemoJob } from './localization';
import { universalJob } from './universal';
import { presetJob, variantTableJob, variantsJob } from './variants';
import { resultJson, tableCsv } from './result-tables';

const SPECS = {
  detect: detectJob,
  study: studyJob,
  attribution: attributionJob,
  nemo: nemoJob,
  universal: universalJob,
  evaluate: evaluateJob,
  preset: presetJob,
  variants: variantsJob,
  'variant-table': variantTableJob,
};

type Specs = typeof SPECS;
export type ScienceJob = keyof Specs;
type Parts<J extends ScienceJob> = Specs[J] extends JobSpec<infer P, infer R, infer C> ? { p: P; r: R; c: C } : never;
export type ScienceParamsMap = { [J in ScienceJob]: Parts<J>['p'] };
export type ScienceResultMap = { [J in ScienceJob]: Parts<J>['r'] };
/** What each job's default params are built from (never: the lab builds them itself). */
export type DefaultsContextMap = { [J in ScienceJob]: Parts<J>['c'] };

/** Indexed by a job name, an entry has that job's types (so a generic J needs no narrowing). */
export const JOBS: { [J in ScienceJob]: JobSpec<ScienceParamsMap[J], ScienceResultMap[J], DefaultsContextMap[J]> } =
  SPECS;

/** A job with its params, discriminated by `job` (one job J, or any). */
export type ScienceRequest<J extends ScienceJob = ScienceJob> = {
  [K in J]: { job: K; params: ScienceParamsMap[K] };
}[J];
/** A job's result, discriminated by `job`. */
export type ScienceOutcome<J extends ScienceJob = ScienceJob> = {
  [K in J]: { job: K; result: ScienceResultMap[K] };
}[J];

/** The jobs the science panel's buttons start with the model's default params. */
export type DefaultJob = {
  [J in ScienceJob]: Specs[J] extends { defaults: (manifest: Manifest, lab: PanelContext) => unknown } ? J : never;
}[ScienceJob];
export type ScienceParams = { [J in DefaultJob]: ScienceParamsMap[J] };

/** How each panel job gets its default params (listed so that a generic job name keeps its params type). */
const LAB_DEFAULTS: { [J in DefaultJob]: (manifest: Manifest, lab: PanelContext) => ScienceParamsMap[J] } = {
  detect: SPECS.detect.defaults,
  study: SPECS.study.defaults,
  attribution: SPECS.attribution.defaults,
  nemo: SPECS.nemo.defaults,
  universal: SPECS.universal.defaults,
  evaluate: SPECS.evaluate.defaults,
};

/** A panel job's request with the model's default params (detect and nemo: on the lab's prompt). */
export function defaultRequest<J extends DefaultJob>(job: J, manifest: Manifest, lab: PanelContext): ScienceRequest<J> {
  return { job, params: LAB_DEFAULTS[job](manifest, lab) };
}

/** Default params of every panel job for a model (detect and nemo: on `prompt`). */
export function defaultScienceParams(
  manifest: Manifest,
  prompt: string,
  units: PanelContext['units'] = DEFAULT_UNIVERSAL.units,
): ScienceParams {
  const lab = { prompt, units };
  return {
    detect: LAB_DEFAULTS.detect(manifest, lab),
    study: LAB_DEFAULTS.study(manifest, lab),
    attribution: LAB_DEFAULTS.attribution(manifest, lab),
    nemo: LAB_DEFAULTS.nemo(manifest, lab),
    universal: LAB_DEFAULTS.universal(manifest, lab),
    evaluate: LAB_DEFAULTS.evaluate(manifest, lab),
  };
}

/**
 * Runs one job on an environment, or answers it from the cache under the job's key; `cached`
 * says which (a job that is never cached is never "from the cache").
 */
export async function runJob<J extends ScienceJob>(
  env: JobEnv,
  request: ScienceRequest<J>,
): Promise<{ outcome: ScienceOutcome<J>; cached: boolean }> {
  const spec = JOBS[request.job];
  const key = spec.cacheKey(env.manifest, request.params);
  let computed = key === null;
  const compute = () => {
    computed = true;
    return spec.run(env, request.params);
  };
  const result = key === null ? await compute() : await cached(env.cache, key, compute);
  return { outcome: { job: request.job, result }, cached: !computed };
}

/** What a finished job changes in the lab besides its own result. */
export function sideEffectsOf<J extends ScienceJob>(manifest: Manifest, outcome: ScienceOutcome<J>): JobEffects {
  return JOBS[outcome.job].effects?.(manifest, outcome.result) ?? {};
}

/** A finished job's files to take away: CSV when the job's result has a table, JSON always. */
export function resultExports<J extends ScienceJob>(
  manifest: Manifest,
  job: J,
  result: ScienceResultMap[J],
): { csv: string | null; json: string } {
  const spec = JOBS[job];
  return {
    csv: spec.table ? tableCsv(spec.table(manifest, result)) : null,
    json: spec.json ? spec.json(manifest, result) : resultJson(manifest, job, result),
  };
}

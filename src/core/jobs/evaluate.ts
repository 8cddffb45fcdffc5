/** The evaluation: replication against utility for no mask, NeMo, universal masks and random controls. */
import { ImageFileError, type JpegDecoder, decodeImageFile } from '../image-files';
import { pixelEncoder } from '../metrics/embedding';
import type { ReferenceImage } from '../metrics/reference-replication';
import type { ReferenceRule } from '../prompts/references';
import { experimentKey } from '../science/cache';
import {
  type EvaluationOptions,
  type EvaluationReport,
  defaultEvaluationOptions,
  runEvaluation,
} from '../science/evaluate';
import { type ProxyEvaluationReport, runProxyEvaluation } from '../science/proxy-evaluate';
import type { StudyReferences } from '../science/proxy-replication';
import { methodFor } from '../science/universal';
import { type LabJobSpec, setsOf } from './job';
import { evaluationTable } from './result-tables';
import { labSizes, universalScoring } from './sizes';

export interface EvaluateParams {
  options: EvaluationOptions;
  /** reference images of the memorized prompts (a model without training images measures replication on them) */
  references?: ReferenceFiles;
}

/**
 * Reference images as the page sends them: the encoded files (their buffers are transferred to the
 * worker, not copied) and which memorized caption each one is for (prompts/references.ts).
 */
export interface ReferenceFiles {
  files: { name: string; bytes: Uint8Array }[];
  matches: { caption: string; file: string; by: ReferenceRule }[];
  /** one line per memorized set on how its prompts were matched */
  summaries: string[];
  /** files found unreadable before sending, with why */
  unreadable: { file: string; reason: string }[];
  /** names, sizes and dates of the files: what the cache key holds instead of the bytes */
  fingerprint: string;
}

/**
 * Decodes the sent files (each once, PNG by fast-png, JPEG by the given decoder) into the study's
 * references, compared by the pixel encoder. A file that does not decode is listed as unreadable
 * and its prompts keep the proxies only.
 */
export function decodeReferenceFiles(refs: ReferenceFiles, jpeg?: JpegDecoder): StudyReferences {
  const images = new Map<string, ReferenceImage>();
  const unreadable = [...refs.unreadable];
  for (const { name, bytes } of refs.files) {
    try {
      images.set(name, { id: name, image: decodeImageFile(bytes, name, { jpeg }) });
    } catch (e) {
      unreadable.push({ file: name, reason: e instanceof ImageFileError ? e.message : String(e) });
    }
  }
  const byCaption = new Map<string, { image: ReferenceImage; by: ReferenceRule }>();
  for (const m of refs.matches) {
    const image = images.get(m.file);
    if (image && !byCaption.has(m.caption)) byCaption.set(m.caption, { image, by: m.by });
  }
  return { encoder: pixelEncoder(), byCaption, summaries: refs.summaries, unreadable };
}

/**
 * A model with training images (the organism) gets replication against utility; one without (a
 * diffusers folder) gets the image-free proxies, and its report says that replication needs
 * reference images.
 *
 * The whole report is cached for an instant second answer; runEvaluation also caches its stages
 * under the keys the study, NeMo and universal jobs use, so it reuses what they computed.
 */
export const evaluateJob: LabJobSpec<EvaluateParams, EvaluationReport | ProxyEvaluationReport> = {
  label: 'Evaluation',
  panel: 'science',
  defaults: (manifest, lab) => {
    const { smoke, steps, neutralLimit } = labSizes(manifest);
    const universal = methodFor(lab.units);
    // The universal scores as "Find universal mask" computes them (sizes.ts), so they come from the cache.
    const scoring = universalScoring(manifest, lab.units);
    const sets = setsOf(lab);
    return {
      options: defaultEvaluationOptions(
        manifest,
        smoke
          ? {
              universal,
              maxFlagged: scoring.maxFlagged,
              seeds: [1, 2],
              utilitySeeds: [5],
              steps,
              sparsities: [0.05, 0.2],
              randomDraws: 1,
              detection: scoring.detection,
              nemo: { enabled: false, seeds: [21, 22], maxEvaluations: 6 },
              neutralLimit,
              memorizedLimit: 4,
              ...sets,
            }
          : // The lab's one-button run: the claims test's size (10 steps, 2 seeds), without NeMo (one search per caption is the slow part).
            {
              universal,
              maxFlagged: scoring.maxFlagged,
              seeds: [1, 2],
              utilitySeeds: [101],
              steps: 10,
              randomDraws: 2,
              detection: scoring.detection,
              nemo: { enabled: false, seeds: [21, 22, 23, 24], maxEvaluations: 60 },
              ...sets,
            },
      ),
    };
  },
  cacheKey: (manifest, p) =>
    experimentKey(
      manifest,
      'evaluate',
      p.references
        ? { options: p.options, references: { matches: p.references.matches, fingerprint: p.references.fingerprint } }
        : p,
    ),
  run: async (env, p) =>
    env.train
      ? runEvaluation(env.runner, env.manifest, await env.train(), p.options, env, env.cache)
      : runProxyEvaluation(
          env.runner,
          env.manifest,
          p.options,
          env,
          env.cache,
          p.references ? decodeReferenceFiles(p.references, env.decodeJpeg) : undefined,
        ),
  table: evaluationTable,
};

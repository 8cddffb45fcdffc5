/**
 * `npm run eval -- --model <dir> [...]`: the whole memorization study on one model in Node —
 * detection ROC, universal/NeMo/random masks, replication and utility — written as a JSON report
 * (EvaluationReport, schema memlab-eval/2) and, with --plot, an SVG plot (ROC + Pareto). Progress goes to
 * stderr; Ctrl+C cancels at the next model call; finished pieces are cached on disk per
 * experiment, so a rerun with the same parameters is immediate.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Manifest } from '../core/manifest';
import type { PromptSet } from '../core/prompts/types';
import { type ExperimentCache, fnv1a64 } from '../core/science/cache';
import type { Progress } from '../core/science/context';
import { estimateJobCost, measureStepTime, rowsPerCall } from '../core/science/cost';
import {
  type EvaluationOptions,
  type EvaluationReport,
  defaultEvaluationOptions,
  runEvaluation,
} from '../core/science/evaluate';
import { formatRate } from '../core/metrics/wilson';
import { reportSvg } from '../core/science/plot';
import { type ProxyEvaluationReport, runProxyEvaluation } from '../core/science/proxy-evaluate';
import { type ScienceRunner, samplerOf } from '../core/science/sampler';
import { studyPrompts } from '../core/science/study';
import { type UniversalMethod, checkUniversalMethod } from '../core/science/universal';
import { type Command, runIfMain } from './command';
import { UsageError, choiceOption, integerOption, parseOptions } from './options';
import {
  PromptFileError,
  type PromptFileRequest,
  pairPromptOptions,
  promptReportLines,
  readPromptFiles,
} from './prompt-files';
import { loadCopyReference } from './copy-detector';
import { QUEUE_USAGE, type QueueArgs, parseQueueArgs, withQueue } from './queue/cli';
import { type StageStatus, queueProgressPrinter } from './queue/progress';
import { QueueError } from './queue/errors';
import { openDiffusersScience } from './diffusers-science';
import { isDiffusersFolder } from './generate-diffusers';
import { ModelDirError, loadNodeModel } from './runner';
import { DiffusersFolderError } from '../core/diffusers/folder';
import { ImageFileError } from '../core/image-files';
import { pixelEncoder } from '../core/metrics/embedding';
import type { ReferenceImage } from '../core/metrics/reference-replication';
import type { ReferenceRule } from '../core/prompts/references';
import type { StudyReferences } from '../core/science/proxy-replication';
import { type EncoderPreset, loadOnnxEncoder } from './image-encoder';
import { readPromptReferences } from './image-files';
import { UnsupportedModelError } from '../core/onnx/errors';

export const EVAL_USAGE = `usage: npm run eval -- --model public/models/<id> | <diffusers ONNX folder>
  [--seeds 4]                       replication seeds per memorized caption (default 4)
  [--steps N]                       DDIM steps of the evaluation generations (default: the manifest's)
  [--units heads|neurons]           what the universal mask prunes: cross-attention heads (default)
                                    or cross-attention value neurons
  [--universal ablation|activation] how units are scored (default: ablation for heads,
                                    activation for neurons; heads only by ablation)
  [--sparsities 0.1,0.2,0.3,0.4]    universal mask sizes, share of the units (default: heads
                                    0.1,0.2,0.3,0.4; neurons 0.01,0.02,0.05,0.1,0.2)
  [--draws 3]                       random masks per sparsity
  [--no-nemo]                       skip NeMo per-prompt localization
  [--quick]                         smoke run: 4 memorized captions, 16 neutral prompts, 2 detection seeds, k = 1
  [--out report.json]               the JSON report (default report.json)
  [--plot report.svg]               also the ROC and Pareto plot as SVG (none without it)
  [--cache node_modules/.cache/memlab-eval | --no-cache]
  [--precision int8|fp32]
  [--prompts <file> --label memorized|non-memorized|unlabelled]
                                    a prompt list (Wen et al.'s JSONL, NeMo's CSV or one prompt per
                                    line) for the detection study instead of the model's own sets;
                                    repeatable, one --label per --prompts, in order
  A Stable Diffusion folder (diffusers' ONNX layout) runs the same study on the prompt lists: it
  brings no training images, so the report (schema memlab-eval-proxy/1) gives the noise gap under
  each mask and how far each mask changes images, and replication only with --references:
  [--references <folder>]           PNG/JPEG training images matched to the memorized prompts by
                                    index (123.png), URL file name, or line position (0.png);
                                    replication is measured on the prompts that have one
  [--embedder <model.onnx>]         the image embedding that compares them (SSCD or a CLIP image
                                    encoder in ONNX; default: pixel correlation at 32x32)
  [--preset sscd|clip] [--size N]   the embedder's input size and normalisation (default sscd)
${QUEUE_USAGE}`;

export interface EvalArgs extends QueueArgs {
  model: string;
  seeds: number;
  steps?: number;
  sparsities?: number[];
  draws?: number;
  universal: UniversalMethod;
  nemo: boolean;
  quick: boolean;
  out: string;
  /** the SVG plot, written only when asked for */
  plot?: string;
  cache: string | null;
  precision: 'int8' | 'fp32';
  /** imported prompt lists for the detection study (empty: the model's own sets) */
  prompts: PromptFileRequest[];
  /** a folder of reference images for the memorized prompts (Stable Diffusion folders) */
  references?: string;
  /** an ONNX image embedding for replication (default: the pixel encoder) */
  embedder?: string;
  preset: EncoderPreset;
  size?: number;
}

const positiveInt = (name: string, text: string | undefined) => integerOption(name, text, 1);

/** Parses and checks the arguments after `npm run eval --`. */
export function parseEvalArgs(argv: string[]): EvalArgs {
  const values = parseOptions(argv, {
    model: { type: 'string' },
    seeds: { type: 'string', default: '4' },
    steps: { type: 'string' },
    sparsities: { type: 'string' },
    draws: { type: 'string' },
    units: { type: 'string', default: 'heads' },
    universal: { type: 'string' },
    'no-nemo': { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    out: { type: 'string', default: 'report.json' },
    plot: { type: 'string' },
    cache: { type: 'string', default: 'node_modules/.cache/memlab-eval' },
    'no-cache': { type: 'boolean', default: false },
    precision: { type: 'string', default: 'int8' },
    prompts: { type: 'string', multiple: true, default: [] },
    label: { type: 'string', multiple: true, default: [] },
    references: { type: 'string' },
    embedder: { type: 'string' },
    preset: { type: 'string', default: 'sscd' },
    size: { type: 'string' },
    queue: { type: 'string' },
    ep: { type: 'string', default: 'cpu' },
  });
  if (!values.model) throw new UsageError('--model is required');
  const queue = parseQueueArgs(values, (message) => new UsageError(message));
  const units = choiceOption('units', values.units, ['heads', 'neurons']);
  const mode = choiceOption('universal', values.universal ?? (units === 'heads' ? 'ablation' : 'activation'), [
    'ablation',
    'activation',
  ]);
  const universal: UniversalMethod = { units, mode };
  try {
    checkUniversalMethod(universal);
  } catch (e) {
    throw new UsageError(`--units ${units} --universal ${mode}: ${(e as Error).message}`);
  }
  const precision = choiceOption('precision', values.precision, ['int8', 'fp32']);
  let sparsities: number[] | undefined;
  if (values.sparsities !== undefined) {
    sparsities = values.sparsities.split(',').map(Number);
    if (sparsities.length === 0 || sparsities.some((s) => !(s > 0 && s <= 1)))
      throw new UsageError(`--sparsities must be numbers in (0, 1], got "${values.sparsities}"`);
  }
  const draws = integerOption('draws', values.draws, 0);
  const prompts = pairPromptOptions(values.prompts, values.label);
  if (typeof prompts === 'string') throw new UsageError(prompts);
  const preset = choiceOption('preset', values.preset, ['sscd', 'clip']);
  if (values.embedder && !values.references)
    throw new UsageError('--embedder compares generations with reference images: give them with --references <folder>');
  return {
    model: values.model,
    seeds: positiveInt('seeds', values.seeds)!,
    steps: positiveInt('steps', values.steps),
    sparsities,
    draws,
    universal,
    nemo: !values['no-nemo'],
    quick: values.quick,
    out: values.out,
    plot: values.plot,
    cache: values['no-cache'] ? null : values.cache,
    precision,
    prompts,
    ...(values.references ? { references: values.references } : {}),
    ...(values.embedder ? { embedder: values.embedder } : {}),
    preset,
    size: positiveInt('size', values.size),
    ...queue,
  };
}

/** The evaluation options the arguments ask for, on top of the model's defaults. */
export function evaluationOptionsFor(manifest: Manifest, args: EvalArgs, promptSets?: PromptSet[]): EvaluationOptions {
  const base = defaultEvaluationOptions(manifest, {
    seeds: Array.from({ length: args.seeds }, (_, i) => i + 1),
    universal: args.universal,
  });
  return {
    ...base,
    ...(args.steps ? { steps: args.steps } : {}),
    ...(args.sparsities ? { sparsities: args.sparsities } : {}),
    ...(args.draws !== undefined ? { randomDraws: args.draws } : {}),
    nemo: { ...base.nemo, enabled: args.nemo },
    ...(promptSets?.length ? { promptSets } : {}),
    ...(args.quick
      ? {
          memorizedLimit: 4,
          neutralLimit: 16,
          detection: { ...base.detection, seeds: base.detection.seeds.slice(0, 2), k: 1 },
          nemo: { enabled: args.nemo, seeds: base.nemo.seeds.slice(0, 2), maxEvaluations: 10 },
        }
      : {}),
  };
}

/** One JSON file per key under `dir` (file name: hash of the key; the key is stored inside to rule out collisions). */
export function fileCache(dir: string): ExperimentCache {
  const path = (key: string) => join(dir, `${fnv1a64(key)}.json`);
  return {
    async get(key) {
      try {
        const entry = JSON.parse(await readFile(path(key), 'utf8')) as { key: string; value: unknown };
        return entry.key === key ? entry.value : undefined;
      } catch {
        return undefined;
      }
    },
    async set(key, value) {
      await mkdir(dir, { recursive: true });
      await writeFile(path(key), JSON.stringify({ key, value }));
    },
  };
}

/** Reads the model's planted images and thumbnail index. */
/** A one-line progress bar on a TTY, a line per stage otherwise. */
export function progressPrinter(stream: NodeJS.WriteStream): (p: Progress) => void {
  let last = '';
  return (p) => {
    const share = p.total > 0 ? Math.min(1, p.done / p.total) : 0;
    if (stream.isTTY) {
      const bar = '#'.repeat(Math.round(share * 30)).padEnd(30, '.');
      stream.write(`\r${p.stage.padEnd(26).slice(0, 26)} [${bar}] ${p.done}/${p.total}  `);
    } else if (p.stage !== last) {
      stream.write(`${p.stage}...\n`);
    }
    last = p.stage;
  };
}

async function writeOutputs(args: EvalArgs, report: EvaluationReport | ProxyEvaluationReport): Promise<void> {
  await mkdir(dirname(resolve(args.out)), { recursive: true });
  await writeFile(args.out, JSON.stringify(report, null, 1));
  if (args.plot !== undefined) {
    await mkdir(dirname(resolve(args.plot)), { recursive: true });
    await writeFile(args.plot, reportSvg(report));
  }
}

type EvalContext = {
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  log?: (line: string) => void;
  onStatus?: (s: StageStatus) => void;
};

async function readSets(args: EvalArgs, ctx: EvalContext): Promise<PromptSet[] | undefined> {
  if (args.prompts.length === 0) return undefined;
  const read = await readPromptFiles(args.prompts).catch((e) => {
    throw e instanceof PromptFileError ? new UsageError(e.message) : e;
  });
  for (const r of read.reports) for (const line of promptReportLines(r)) ctx.log?.(line);
  return read.sets;
}

/**
 * The study on a Stable Diffusion folder (instrumented on load, as npm run generate does): the
 * imported prompt lists, image-free proxies for replication. Returns the report.
 */
export async function runDiffusersEvalCommand(args: EvalArgs, ctx: EvalContext = {}): Promise<ProxyEvaluationReport> {
  if (args.queue) throw new UsageError('--queue runs the lab’s own models; a Stable Diffusion folder runs here');
  const promptSets = await readSets(args, ctx);
  const sd = await openDiffusersScience(args.model).catch((e) => {
    if (e instanceof DiffusersFolderError) throw new ModelDirError(`${args.model}: ${e.message}`);
    if (e instanceof UnsupportedModelError)
      throw new ModelDirError(`${args.model}: ${e.message}\ndetails: ${e.detail}`);
    throw e;
  });
  let references: Awaited<ReturnType<typeof readStudyReferences>> = null;
  try {
    for (const note of sd.manifest.latent?.notes ?? []) ctx.log?.(`note: ${note}`);
    const options = evaluationOptionsFor(sd.manifest, args, promptSets);
    ctx.log?.(`detection study: ${await detectionCostLine(sd.sampler, sd.manifest, options)}`);
    references = await readStudyReferences(args, promptSets, ctx);
    if (!references)
      ctx.log?.('replication: not measured (this model brings no training images; give them with --references)');
    const cache = args.cache ? fileCache(resolve(args.cache)) : undefined;
    const report = await runProxyEvaluation(sd.sampler, sd.manifest, options, ctx, cache, references?.value);
    await writeOutputs(args, report);
    return report;
  } finally {
    await Promise.all([sd.release(), references?.release()]);
  }
}

/**
 * The reference images of the memorized sets, matched by prompts/references.ts and decoded, with
 * the encoder that compares them; null without --references.
 */
async function readStudyReferences(
  args: EvalArgs,
  sets: readonly PromptSet[] | undefined,
  ctx: EvalContext,
): Promise<{ value: StudyReferences; release(): Promise<void> } | null> {
  if (!args.references) return null;
  const byCaption = new Map<string, { image: ReferenceImage; by: ReferenceRule }>();
  const summaries: string[] = [];
  const unreadable: { file: string; reason: string }[] = [];
  for (const set of sets ?? []) {
    if (set.label !== 'memorized') continue;
    const read = await readPromptReferences(args.references, set).catch((e) => {
      throw e instanceof ImageFileError ? new UsageError(`--references: ${e.message}`) : e;
    });
    summaries.push(read.matching.summary);
    unreadable.push(...read.failed);
    for (const m of read.matching.matches) {
      const image = read.images.get(m.prompt);
      const caption = set.prompts[m.prompt].caption;
      if (image && !byCaption.has(caption)) byCaption.set(caption, { image, by: m.by });
    }
  }
  for (const line of summaries) ctx.log?.(`references: ${line}`);
  for (const f of unreadable) ctx.log?.(`references: ${f.file} skipped: ${f.reason}`);
  const onnx = args.embedder ? await loadOnnxEncoder(args.embedder, { preset: args.preset, size: args.size }) : null;
  const encoder = onnx?.encoder ?? pixelEncoder();
  ctx.log?.(`replication: by ${encoder.id}: ${encoder.description}`);
  return {
    value: { encoder, byCaption, summaries, unreadable },
    release: async () => onnx?.release(),
  };
}

/** Runs the study and writes the report and the plot; returns the report. */
export async function runEvalCommand(args: EvalArgs, ctx: EvalContext = {}): Promise<EvaluationReport> {
  const promptSets = await readSets(args, ctx);
  const queue = await withQueue(args, [{ dir: args.model, precision: args.precision }], ctx, ctx.onStatus);
  const model = await loadNodeModel(args.model, { precision: args.precision, ep: args.ep }).catch(async (e) => {
    await queue.close();
    throw e;
  });
  let train: Awaited<ReturnType<typeof loadCopyReference>> | undefined;
  try {
    train = await loadCopyReference(args.model, model.manifest);
    const options = evaluationOptionsFor(model.manifest, args, promptSets);
    if (promptSets) ctx.log?.(`detection study: ${await detectionCostLine(model.runner, model.manifest, options)}`);
    const cache = args.cache ? fileCache(resolve(args.cache)) : undefined;
    const report = await runEvaluation(model.runner, model.manifest, train, options, queue.ctx, cache);
    await writeOutputs(args, report);
    return report;
  } finally {
    await Promise.all([model.release(), queue.close(), train?.detector?.release()]);
  }
}

/** The detection study's cost on the imported sets, from a step time measured at its batch. */
async function detectionCostLine(
  runner: ScienceRunner,
  manifest: Manifest,
  options: EvaluationOptions,
): Promise<string> {
  const d = options.detection;
  const shape = {
    prompts: studyPrompts(manifest, { promptSets: options.promptSets }).length,
    seeds: d.seeds.length,
    // UNet calls, not scheduler steps: PNDM as SD ships it calls the UNet once more than it steps
    steps: Math.min(d.k, samplerOf(runner, manifest).callsFor(d.steps)),
    guided: true,
    maxRows: d.maxRows,
  };
  return estimateJobCost(shape, await measureStepTime(runner, manifest, rowsPerCall(shape))).summary;
}

/** The lines printed after a run on a model without reference images. */
export function proxySummaryLines(report: ProxyEvaluationReport): string[] {
  const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
  const lines = report.detection.rocs.map(
    (r) => `detect ${r.key.padEnd(20)} AUC ${r.roc.auc.toFixed(3)}  TPR@1%FPR ${r.roc.tprAt1PctFpr.toFixed(2)}`,
  );
  const rep = report.replication;
  if (rep.measured) {
    const r = rep.references;
    const rules = Object.entries(r.byRule)
      .filter(([, n]) => n > 0)
      .map(([rule, n]) => `${n} by ${rule}`)
      .join(', ');
    lines.push(
      `replication on ${r.withReference} of ${r.prompts} memorized prompts with a reference image (${rules}; ${r.missing.length} without: proxies only), by ${rep.encoder}, copy above ${rep.calibration.threshold.toFixed(3)} (ordinary generations: ${rep.calibration.samples}, highest ${rep.calibration.ordinaryMax.toFixed(3)})`,
    );
  }
  for (const c of report.conditions)
    lines.push(
      `${c.id.padEnd(16)} pruned ${String(Math.round(c.pruned)).padStart(4)}${c.replication ? `  replication ${formatRate(c.replication).padStart(22)} of ${c.replication.total}` : ''}  memorized noise gap ${pct(c.memorizedNoiseGapRatio).padStart(6)} of unpruned  memorized change ${c.memorizedChange.toFixed(3)}  neutral change ${c.neutralChange.toFixed(3)}`,
    );
  if (!rep.measured) lines.push(`replication: not measured. ${rep.reason}`);
  lines.push(
    `timing: ${(report.timings.totalMs / 1000).toFixed(1)} s total, ${report.timings.sampling.msPerRow.toFixed(2)} ms per UNet row`,
  );
  return lines;
}

/** The lines printed after a run: the numbers a reader wants first. */
export function summaryLines(report: EvaluationReport): string[] {
  const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
  const lines = report.detection.rocs.map(
    (r) => `detect ${r.key.padEnd(20)} AUC ${r.roc.auc.toFixed(3)}  TPR@1%FPR ${r.roc.tprAt1PctFpr.toFixed(2)}`,
  );
  const c0 = report.calibration;
  lines.push(
    `copies counted by the ${c0.rule === 'embedding' ? `copy detector (${c0.detector}, similarity > ${c0.tau!.toFixed(3)})` : 'ratio rule'}; ratio rule alpha ${c0.alpha.toFixed(3)}; ${c0.samples} calibration generations`,
  );
  for (const c of report.conditions) {
    const r = c.replication;
    lines.push(
      `${c.id.padEnd(16)} pruned ${String(Math.round(c.pruned)).padStart(4)}  replication ${formatRate(r).padStart(22)} of ${r.total}${r.byRule.embedding ? `  ratio rule ${formatRate(r.byRule.ratio)}` : ''}  adherence ${pct(c.utility.adherence).padStart(6)}  change ${c.utility.imageChange.toFixed(3)}`,
    );
  }
  const u = report.claims.universal;
  const range = (i: { lo: number; hi: number }) => `[${pct(i.lo)}, ${pct(i.hi)}]`;
  lines.push(
    `claims: detection AUC >= ${report.budget.minDetectionAuc}: ${report.claims.detectionAuc.holds}; universal @${u.sparsity}: replication -${pct(u.replicationReduction)} ${range(u.replicationReductionRange)}, adherence x${u.adherenceRatio.toFixed(2)}: ${u.holds}; random same size -${pct(u.randomReduction)} ${range(u.randomReductionRange)}: ${u.randomHolds}`,
  );
  lines.push(
    `timing: ${(report.timings.totalMs / 1000).toFixed(1)} s total, ${report.timings.sampling.msPerRow.toFixed(2)} ms per UNet row`,
  );
  return lines;
}

export const evalCommand: Command = {
  usage: EVAL_USAGE,
  cancellable: true,
  async run(argv, signal) {
    const args = parseEvalArgs(argv);
    const ctx = {
      signal,
      ...queueProgressPrinter(process.stderr, progressPrinter(process.stderr)),
      log: (line: string) => process.stderr.write(`${line}\n`),
    };
    if (args.references && !isDiffusersFolder(args.model))
      throw new UsageError(
        '--references is for a Stable Diffusion folder; the lab’s own models compare with their own training images',
      );
    const lines = isDiffusersFolder(args.model)
      ? proxySummaryLines(await runDiffusersEvalCommand(args, ctx))
      : summaryLines(await runEvalCommand(args, ctx));
    process.stderr.write('\n');
    for (const line of lines) console.log(line);
    console.log(`wrote ${[args.out, args.plot].filter(Boolean).join(' and ')}`);
  },
  inputErrors: [QueueError],
};

await runIfMain(import.meta.url, evalCommand);

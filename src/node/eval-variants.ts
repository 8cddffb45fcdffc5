/**
 * `npm run eval:variants -- [...]`: the unlearning variants of a base model in one table (see
 * core/science/variants.ts). Every model public/models/index.json lists whose manifest says it was
 * made from the base, plus the base; masks: none, the base's universal mask (heads by ablation, at
 * the lab's default sparsity; its scores come from the file cache `npm run eval` shares), and the
 * UniForget presets the base ships. Writes a JSON report and a Markdown table, prints the table.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Manifest } from '../core/manifest';
import { parseMaskPreset } from '../core/presets';
import type { Progress, RunContext } from '../core/science/context';
import { cachedUniversalScores } from '../core/science/shared-computations';
import { DEFAULT_UNIVERSAL, defaultSparsity, neutralSplit, universalUnits } from '../core/science/universal';
import {
  type VariantMask,
  type VariantModel,
  type VariantReport,
  runVariantTable,
  variantTableMarkdown,
} from '../core/science/variants';
import { type Command, runIfMain } from './command';
import { fileCache, progressPrinter } from './eval';
import { loadCopyReference } from './copy-detector';
import { QUEUE_USAGE, type QueueArgs, parseQueueArgs, withQueue } from './queue/cli';
import { QueueError } from './queue/errors';
import { type StageStatus, queueProgressPrinter } from './queue/progress';
import { UsageError, integerOption, parseOptions } from './options';
import { ModelDirError, loadNodeModel, readManifest, readModelFile } from './runner';

export const VARIANTS_USAGE = `usage: npm run eval:variants -- [--models public/models] [--base memlab-organism]
  [--seeds 11]                replication seeds per memorized caption (11 x 16 other captions: any
                              rate's 95% interval under 15 points)
  [--forgotten-seeds 42]      seeds per caption of the artworks the variants forget (42 x 4: under
                              15 points; default: the larger of --seeds and 42)
  [--steps 10]                DDIM steps (default 10: the claims tests' setting)
  [--masks universal,uniforget]  masks besides none (either, both, or "none")
  [--sparsity ${defaultSparsity('heads')}]            universal mask size, share of cross-attention heads
  [--out variants.json] [--table variants.md]
  [--cache node_modules/.cache/memlab-eval | --no-cache]
${QUEUE_USAGE}`;

export interface VariantsArgs extends QueueArgs {
  models: string;
  base: string;
  seeds: number;
  forgottenSeeds: number;
  steps: number;
  masks: ('universal' | 'uniforget')[];
  sparsity: number;
  out: string;
  table: string;
  cache: string | null;
}

export function parseVariantsArgs(argv: string[]): VariantsArgs {
  const values = parseOptions(argv, {
    models: { type: 'string', default: 'public/models' },
    base: { type: 'string', default: 'memlab-organism' },
    seeds: { type: 'string', default: '11' },
    'forgotten-seeds': { type: 'string' },
    steps: { type: 'string', default: '10' },
    masks: { type: 'string', default: 'universal,uniforget' },
    sparsity: { type: 'string', default: String(defaultSparsity('heads')) },
    out: { type: 'string', default: 'variants.json' },
    table: { type: 'string', default: 'variants.md' },
    cache: { type: 'string', default: 'node_modules/.cache/memlab-eval' },
    'no-cache': { type: 'boolean', default: false },
    queue: { type: 'string' },
    ep: { type: 'string', default: 'cpu' },
  });
  const queue = parseQueueArgs(values, (message) => new UsageError(message));
  const int = (name: string, text: string) => integerOption(name, text, 1)!;
  const masks = values.masks === 'none' ? [] : values.masks.split(',');
  for (const m of masks)
    if (m !== 'universal' && m !== 'uniforget')
      throw new UsageError(`--masks takes universal, uniforget or none, got "${m}"`);
  const sparsity = Number(values.sparsity);
  if (!(sparsity > 0 && sparsity <= 1)) throw new UsageError(`--sparsity must be in (0, 1], got "${values.sparsity}"`);
  return {
    models: values.models,
    base: values.base,
    seeds: int('seeds', values.seeds),
    forgottenSeeds:
      values['forgotten-seeds'] === undefined
        ? Math.max(42, int('seeds', values.seeds))
        : int('forgotten-seeds', values['forgotten-seeds']),
    steps: int('steps', values.steps),
    masks: masks as VariantsArgs['masks'],
    sparsity,
    out: values.out,
    table: values.table,
    cache: values['no-cache'] ? null : values.cache,
    ...queue,
  };
}

/** The base and every model the index lists as its variant, as directories. */
export async function variantDirs(modelsRoot: string, baseId: string): Promise<{ dir: string; manifest: Manifest }[]> {
  let index: { models: { id: string; path: string }[] };
  try {
    index = JSON.parse(await readFile(join(modelsRoot, 'index.json'), 'utf8'));
  } catch (e) {
    throw new ModelDirError(`cannot read ${join(modelsRoot, 'index.json')}: ${(e as Error).message}`);
  }
  const out: { dir: string; manifest: Manifest }[] = [];
  for (const entry of index.models) {
    const dir = join(modelsRoot, entry.path);
    const manifest = await readManifest(dir);
    if (manifest.id === baseId || manifest.variant?.of === baseId) out.push({ dir, manifest });
  }
  if (!out.some((m) => m.manifest.id === baseId))
    throw new ModelDirError(`${baseId} is not in ${join(modelsRoot, 'index.json')}`);
  return out;
}

/** Runs the table and writes the report and the Markdown; returns the report. */
export async function runVariantsCommand(
  args: VariantsArgs,
  outer: { signal?: AbortSignal; onProgress?: (p: Progress) => void; onStatus?: (s: StageStatus) => void } = {},
): Promise<VariantReport> {
  const dirs = await variantDirs(args.models, args.base);
  const queue = await withQueue(
    args,
    dirs.map((d) => ({ dir: d.dir, precision: 'int8' as const })),
    outer,
    outer.onStatus,
  );
  try {
    return await variantsWith(args, dirs, queue.ctx);
  } finally {
    await queue.close();
  }
}

async function variantsWith(
  args: VariantsArgs,
  dirs: { dir: string; manifest: Manifest }[],
  ctx: RunContext,
): Promise<VariantReport> {
  const baseDir = dirs.find((d) => d.manifest.id === args.base)!;
  const manifest = baseDir.manifest;
  const train = await loadCopyReference(baseDir.dir, manifest);
  const detection = { seeds: [11, 12], steps: args.steps, k: 2, guidance: manifest.defaults.guidance };
  const masks: VariantMask[] = [];
  if (args.masks.includes('universal')) {
    // Built on the base only, without labels, and applied to every variant as it is.
    const base = await loadNodeModel(baseDir.dir, { ep: args.ep });
    try {
      const reference = neutralSplit(manifest).reference;
      const cache = args.cache ? fileCache(resolve(args.cache)) : undefined;
      const u = await cachedUniversalScores(
        base.runner,
        manifest,
        { ...DEFAULT_UNIVERSAL, detection, reference },
        ctx,
        cache,
      );
      masks.push({
        id: `universal@${args.sparsity}`,
        label: `universal ${Math.round(args.sparsity * 100)}% of heads`,
        units: { [u.mask]: universalUnits(u.scores, args.sparsity) },
      });
    } finally {
      await base.release();
    }
  }
  if (args.masks.includes('uniforget')) {
    // UniForget's learned masks; the universal preset is the 'universal' row, built here.
    for (const entry of (manifest.presets ?? []).filter((e) => e.method !== 'universal')) {
      const preset = parseMaskPreset(
        JSON.parse(new TextDecoder().decode(await readModelFile(baseDir.dir, entry))),
        manifest,
      );
      masks.push({ id: preset.id, label: preset.label, units: preset.masks });
    }
  }
  const models: VariantModel[] = dirs.map(({ dir, manifest: m }) => ({
    manifest: m,
    load: async () => {
      const model = await loadNodeModel(dir, { ep: args.ep });
      return { runner: model.runner, release: () => model.release() };
    },
  }));
  const report = await runVariantTable(
    models,
    train,
    {
      seeds: Array.from({ length: args.seeds }, (_, i) => i + 1),
      forgottenSeeds: Array.from({ length: args.forgottenSeeds }, (_, i) => i + 1),
      utilitySeeds: [101],
      steps: args.steps,
      guidance: manifest.defaults.guidance,
      masks,
      calibrationQuantile: 0.01,
    },
    ctx,
  ).finally(() => train.detector?.release());
  for (const file of [args.out, args.table]) await mkdir(dirname(resolve(file)), { recursive: true });
  await writeFile(args.out, JSON.stringify(report, null, 1));
  await writeFile(args.table, `${variantTableMarkdown(report)}\n`);
  return report;
}

export const variantsCommand: Command = {
  usage: VARIANTS_USAGE,
  cancellable: true,
  async run(argv, signal) {
    const args = parseVariantsArgs(argv);
    const report = await runVariantsCommand(args, {
      signal,
      ...queueProgressPrinter(process.stderr, progressPrinter(process.stderr)),
    });
    process.stderr.write('\n');
    console.log(variantTableMarkdown(report));
    console.log(
      `\n${report.rows.length} rows in ${(report.timings.totalMs / 1000).toFixed(0)} s; wrote ${args.out} and ${args.table}`,
    );
  },
  inputErrors: [QueueError],
};

await runIfMain(import.meta.url, variantsCommand);

/**
 * `npm run instrument -- --in <diffusers ONNX folder> --out <folder>`: writes the folder again with
 * its UNet instrumented for the lab (head and value-neuron mask inputs, cross-attention and value
 * outputs) and the lab's description of it (unet/lab-unet.json). Weight files and the other
 * components are hard-linked into the new folder, never rewritten; where the filesystem cannot link
 * (the output on another device) they are copied only with --copy-weights. The original folder is
 * not changed.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import type { DiffusersUNetConfig } from '../core/onnx/analyze';
import type { LabUNetDescription } from '../core/onnx/description';
import { UnsupportedModelError } from '../core/onnx/errors';
import { DEFAULT_ATTENTION_MAP_LIMIT, instrumentUNet } from '../core/onnx/instrument';
import { type Command, runIfMain } from './command';
import { CannotLinkError, linkOrCopy, type Placement, writeChunks } from './model-files';
import { UsageError, integerOption, parseOptions } from './options';

export const LAB_DESCRIPTION_FILE = 'lab-unet.json';

export const INSTRUMENT_USAGE = `usage: npm run instrument -- --in <diffusers ONNX folder> --out <new folder>
  [--attention-map-limit ${DEFAULT_ATTENTION_MAP_LIMIT}]   largest side of a captured attention map; larger blocks are average-pooled
  [--sample-size N]            latent side, when neither unet/config.json nor the graph gives it
  [--masks-only]               leave out the attention-map and value outputs (cheaper runs for batch studies)
  [--copy-weights]             copy weight files where they cannot be hard-linked (output on another filesystem)
The input folder holds unet/model.onnx (diffusers' ONNX layout; a folder with model.onnx directly is taken as the UNet folder).`;

/** A folder the command cannot use (missing files), told in plain words. */
export class InstrumentFolderError extends Error {
  override name = 'InstrumentFolderError';
}

export interface InstrumentArgs {
  in: string;
  out: string;
  attentionMapLimit: number;
  sampleSize?: number;
  copyWeights?: boolean;
  masksOnly?: boolean;
}

export function parseInstrumentArgs(argv: string[]): InstrumentArgs {
  const values = parseOptions(argv, {
    in: { type: 'string' },
    out: { type: 'string' },
    'attention-map-limit': { type: 'string' },
    'sample-size': { type: 'string' },
    'copy-weights': { type: 'boolean', default: false },
    'masks-only': { type: 'boolean', default: false },
  });
  if (!values.in) throw new UsageError('--in is required');
  if (!values.out) throw new UsageError('--out is required');
  if (resolve(values.in) === resolve(values.out)) {
    throw new UsageError('--out must be a new folder, not the input folder');
  }
  return {
    in: values.in,
    out: values.out,
    attentionMapLimit:
      integerOption('attention-map-limit', values['attention-map-limit'], 1) ?? DEFAULT_ATTENTION_MAP_LIMIT,
    sampleSize: integerOption('sample-size', values['sample-size'], 1),
    copyWeights: values['copy-weights'],
    masksOnly: values['masks-only'],
  };
}

export interface InstrumentFolderResult {
  description: LabUNetDescription;
  /** the instrumented graph and the description, as written */
  graphPath: string;
  descriptionPath: string;
  graphBytes: number;
  /** every other file placed in the output folder and how */
  files: { path: string; placement: Placement }[];
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path)));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

/** The folders of a diffusers pipeline that model_index.json names (null entries are absent parts). */
async function pipelineParts(root: string): Promise<string[] | undefined> {
  const path = join(root, 'model_index.json');
  if (!existsSync(path)) return undefined;
  const index = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  return Object.entries(index)
    .filter(([key, value]) => !key.startsWith('_') && Array.isArray(value) && value[0] !== null)
    .map(([key]) => key)
    .filter((key) => existsSync(join(root, key)));
}

export async function instrumentFolder(args: InstrumentArgs): Promise<InstrumentFolderResult> {
  const input = resolve(args.in);
  const output = resolve(args.out);
  const pipeline = existsSync(join(input, 'unet', 'model.onnx'));
  const unetIn = pipeline ? join(input, 'unet') : input;
  const unetOut = pipeline ? join(output, 'unet') : output;
  const graphIn = join(unetIn, 'model.onnx');
  if (!existsSync(graphIn)) {
    throw new InstrumentFolderError(`no UNet found: ${input} has neither unet/model.onnx nor model.onnx`);
  }
  const configPath = join(unetIn, 'config.json');
  let config: DiffusersUNetConfig | undefined;
  if (existsSync(configPath)) {
    try {
      config = JSON.parse(await readFile(configPath, 'utf8'));
    } catch (e) {
      throw new InstrumentFolderError(`${configPath} is not valid JSON (${(e as Error).message})`);
    }
  }
  const bytes = new Uint8Array(await readFile(graphIn));
  const result = instrumentUNet(bytes, {
    config,
    sampleSize: args.sampleSize,
    attentionMapLimit: args.attentionMapLimit,
    capture: !args.masksOnly,
  });
  const missing = result.externalFiles.filter((f) => !existsSync(join(unetIn, f)));
  if (missing.length) {
    throw new InstrumentFolderError(
      `the UNet's weight file${missing.length > 1 ? 's' : ''} ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} missing from ${unetIn}`,
    );
  }

  await mkdir(unetOut, { recursive: true });
  const graphPath = join(unetOut, 'model.onnx');
  const graphBytes = await writeChunks(graphPath, result.chunks);
  const descriptionPath = join(unetOut, LAB_DESCRIPTION_FILE);
  await writeFile(descriptionPath, `${JSON.stringify(result.description, null, 2)}\n`);

  // everything else of the UNet folder (weights, config) and of the pipeline's other parts
  const sources = (await filesUnder(unetIn)).filter((f) => f !== graphIn && !f.endsWith(LAB_DESCRIPTION_FILE));
  if (pipeline) {
    const parts = (await pipelineParts(input)) ?? [];
    for (const part of parts.filter((p) => p !== 'unet')) sources.push(...(await filesUnder(join(input, part))));
    for (const entry of await readdir(input, { withFileTypes: true })) {
      if (entry.isFile()) sources.push(join(input, entry.name));
    }
  }
  const files: InstrumentFolderResult['files'] = [];
  for (const src of sources) {
    const rel = pipeline ? relative(input, src) : relative(unetIn, src);
    const dst = join(output, rel);
    await mkdir(join(dst, '..'), { recursive: true });
    try {
      files.push({ path: rel, placement: await linkOrCopy(src, dst, args.copyWeights) });
    } catch (e) {
      if (!(e instanceof CannotLinkError)) throw e;
      throw new InstrumentFolderError(
        `${e.message}. Weight files are linked, not copied: choose an --out on the same filesystem as the input, or pass --copy-weights`,
      );
    }
  }
  return { description: result.description, graphPath, descriptionPath, graphBytes, files };
}

/** The lines the command prints: what was found, what was written. */
export function summaryLines(r: InstrumentFolderResult): string[] {
  const d = r.description;
  const lines = [
    `UNet: ${d.graph.dtype}, opset ${d.graph.opset}, latent ${d.graph.sampleSize}x${d.graph.sampleSize} (from ${d.graph.sampleSizeFrom}), timestep ${d.graph.timestepType}`,
    `cross-attention blocks: ${d.crossAttention.length}`,
    ...d.crossAttention.map(
      (c) =>
        `  ${c.name.padEnd(32)} ${String(c.heads).padStart(3)} heads x ${c.headSize}, ${c.blockResolution}x${c.blockResolution}` +
        `${c.poolFactor > 1 ? ` (map pooled to ${c.blockResolution / c.poolFactor})` : ''}, value width ${c.valueWidth}, ${c.form}`,
    ),
    `self-attention blocks: ${d.selfAttention.length}`,
    ...d.selfAttention.map(
      (s) =>
        `  ${s.name.padEnd(32)} ${String(s.heads).padStart(3)} heads x ${s.headSize}, ${s.resolution}x${s.resolution}, ${s.form}`,
    ),
    `mask inputs: ${d.masks.map((m) => `${m.name} [batch, ${m.layers}, ${m.units}]`).join(', ')}`,
    d.captures
      ? `attention outputs: ${(d.attentionMaps.bytesPerRow / 1e6).toFixed(2)} MB per batch row per UNet call`
      : 'no attention or value outputs (--masks-only)',
    ...d.warnings.map((w) => `warning: ${w}`),
    `wrote ${r.graphPath} (${r.graphBytes} bytes) and ${r.descriptionPath}`,
  ];
  const copied = r.files.filter((f) => f.placement === 'copied');
  lines.push(
    `${r.files.length - copied.length} other file(s) hard-linked` +
      (copied.length
        ? `; ${copied.length} copied because this filesystem cannot link them: ${copied.map((f) => f.path).join(', ')}`
        : ''),
  );
  return lines;
}

export const instrumentCommand: Command = {
  usage: INSTRUMENT_USAGE,
  async run(argv) {
    const result = await instrumentFolder(parseInstrumentArgs(argv));
    for (const line of summaryLines(result)) console.log(line);
  },
  inputErrors: [UnsupportedModelError, InstrumentFolderError],
};

await runIfMain(import.meta.url, instrumentCommand);

/**
 * What the lab needs to know about a diffusers ONNX folder (model_index.json, tokenizer/,
 * scheduler/, text_encoder/, unet/, vae_decoder/, and their optional config.json files), read through a small
 * file-reading interface so the same code serves a folder on disk (Node), a folder the user
 * picked, or a base URL (browser). Missing pieces are named in the error; values the optional
 * configs would give are filled with diffusers' own defaults for SD 1.x/2.x and reported.
 */
import { ClipTokenizer, type ClipNormalization, TokenizerFilesError } from './clip-tokenizer';
import { parseLenientJson } from './lenient-json';

/** Reads the folder's files by path relative to its root ("unet/config.json"). */
export interface FolderReader {
  /** the file's text, or undefined when it does not exist */
  readText(path: string): Promise<string | undefined>;
  /** whether the file exists (for the graphs and weights, which are not read here) */
  has(path: string): Promise<boolean>;
}

export interface LatentShape {
  channels: number;
  height: number;
  width: number;
}

export interface LatentModel {
  /** the folder's name for itself: its model_index.json pipeline class */
  pipelineClass: string;
  tokenizer: ClipTokenizer;
  /** scheduler/scheduler_config.json as written (non-strict JSON accepted) */
  schedulerConfig: Record<string, unknown>;
  /** the scheduler class the folder names (model_index.json, else the config's _class_name) */
  schedulerClass: string;
  /** the UNet's default latent size (diffusers: unet sample_size) and channels */
  latent: LatentShape;
  vae: {
    /** pixels per latent cell: 2^(decoder blocks - 1) */
    scaleFactor: number;
    /** latents are divided by this before decoding (0.18215 for SD 1.x and 2.x) */
    scalingFactor: number;
  };
  /** text encoder output width when its config says so */
  textWidth?: number;
  /** defaults that stood in for missing optional files, in words, for the load report */
  assumptions: string[];
}

const NOTES = {
  latentSize: 'latents are 64 x 64 (512 x 512 pixels), the SD 1.x/2.x size: unet/config.json gives no sample_size',
  latentChannels: 'the UNet takes 4 latent channels (no unet/config.json)',
};

/**
 * The latent shape a UNet graph fixes in its sample input ([batch, channels, height, width] with
 * numbers where the export fixed them) replaces the configs' or the defaults' shape.
 */
export function applyGraphLatentShape(model: LatentModel, dims: readonly (number | string)[]): void {
  const fixed = (d: number | string | undefined): d is number => typeof d === 'number' && d > 0;
  if (fixed(dims[1])) {
    model.latent.channels = dims[1];
    model.assumptions = model.assumptions.filter((a) => a !== NOTES.latentChannels);
  }
  if (fixed(dims[2]) && fixed(dims[3])) {
    model.latent.height = dims[2];
    model.latent.width = dims[3];
    model.assumptions = model.assumptions.filter((a) => a !== NOTES.latentSize);
  }
}

export class DiffusersFolderError extends Error {
  override name = 'DiffusersFolderError';
}

export const GRAPHS = {
  textEncoder: 'text_encoder/model.onnx',
  unet: 'unet/model.onnx',
  vaeDecoder: 'vae_decoder/model.onnx',
} as const;

async function readJson(reader: FolderReader, path: string, required: string): Promise<Record<string, unknown>>;
async function readJson(reader: FolderReader, path: string): Promise<Record<string, unknown> | undefined>;
async function readJson(reader: FolderReader, path: string, required?: string) {
  const text = await reader.readText(path);
  if (text === undefined) {
    if (required) throw new DiffusersFolderError(`${path} is missing: ${required}`);
    return undefined;
  }
  let json: unknown;
  try {
    json = parseLenientJson(text);
  } catch (e) {
    throw new DiffusersFolderError(`${path} is not valid JSON (${(e as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new DiffusersFolderError(`${path} does not hold a JSON object`);
  }
  return json as Record<string, unknown>;
}

const positiveInt = (v: unknown): number | undefined =>
  Number.isInteger(v) && (v as number) > 0 ? (v as number) : undefined;

/** Reads and checks a diffusers ONNX folder; throws DiffusersFolderError naming what is wrong. */
export async function readDiffusersFolder(
  reader: FolderReader,
  options: { normalization?: ClipNormalization } = {},
): Promise<LatentModel> {
  const index = await readJson(
    reader,
    'model_index.json',
    'this does not look like a diffusers model folder (the folder itself, with text_encoder/, unet/, ... inside)',
  );
  const missing: string[] = [];
  for (const path of Object.values(GRAPHS)) if (!(await reader.has(path))) missing.push(path);
  if (missing.length) {
    throw new DiffusersFolderError(
      `the folder lacks ${missing.join(', ')}: the lab needs the ONNX export (text encoder, UNet and VAE decoder)`,
    );
  }
  const assumptions: string[] = [];

  const [vocabText, merges, tokenizerJsonText] = await Promise.all([
    reader.readText('tokenizer/vocab.json'),
    reader.readText('tokenizer/merges.txt'),
    reader.readText('tokenizer/tokenizer.json'),
  ]);
  if (tokenizerJsonText === undefined && (vocabText === undefined || merges === undefined)) {
    throw new DiffusersFolderError(
      'the tokenizer is missing: the folder needs tokenizer/vocab.json and tokenizer/merges.txt (or tokenizer/tokenizer.json)',
    );
  }
  const [tokenizerConfig, specialTokensMap, textConfig] = await Promise.all([
    readJson(reader, 'tokenizer/tokenizer_config.json'),
    readJson(reader, 'tokenizer/special_tokens_map.json'),
    readJson(reader, 'text_encoder/config.json'),
  ]);
  const positions = positiveInt(textConfig?.max_position_embeddings);
  if (tokenizerConfig?.model_max_length === undefined && positions === undefined) {
    assumptions.push(
      'prompts are padded to 77 tokens (no tokenizer_config.json or text encoder config says otherwise)',
    );
  }
  let tokenizer: ClipTokenizer;
  try {
    tokenizer = new ClipTokenizer(
      {
        vocab: vocabText === undefined ? undefined : (parseLenientJson(vocabText) as Record<string, number>),
        merges,
        tokenizerJson: tokenizerJsonText === undefined ? undefined : parseLenientJson(tokenizerJsonText),
        config: tokenizerConfig,
        specialTokensMap,
      },
      { normalization: options.normalization, fallbackMaxLength: positions ?? 77 },
    );
  } catch (e) {
    if (e instanceof TokenizerFilesError || e instanceof SyntaxError) {
      throw new DiffusersFolderError(`the tokenizer files cannot be used: ${e.message}`);
    }
    throw e;
  }

  const schedulerConfig = await readJson(
    reader,
    'scheduler/scheduler_config.json',
    'the lab needs the noise schedule the model was trained with',
  );
  // diffusers' pipelines build the class model_index.json names from this config. A class the lab
  // cannot run is refused when generating (naming the ones it can run), so the folder still loads
  // and runs with another scheduler built from the same config.
  const indexed = Array.isArray(index.scheduler) ? index.scheduler[1] : undefined;
  const schedulerClass = typeof indexed === 'string' ? indexed : schedulerConfig._class_name;
  if (typeof schedulerClass !== 'string') {
    throw new DiffusersFolderError(
      'neither model_index.json nor scheduler/scheduler_config.json names the scheduler class',
    );
  }

  const [unetConfig, vaeConfig] = await Promise.all([
    readJson(reader, 'unet/config.json'),
    readJson(reader, 'vae_decoder/config.json'),
  ]);
  const sampleSize = unetConfig?.sample_size;
  const size = positiveInt(sampleSize) ?? (Array.isArray(sampleSize) ? sampleSize.map(positiveInt) : undefined);
  let height = 64;
  let width = 64;
  if (typeof size === 'number') [height, width] = [size, size];
  else if (size && size.length === 2 && size[0] && size[1]) [height, width] = [size[0], size[1]];
  else assumptions.push(NOTES.latentSize);
  const channels = positiveInt(unetConfig?.in_channels) ?? 4;
  if (!unetConfig) assumptions.push(NOTES.latentChannels);

  const blocks = Array.isArray(vaeConfig?.block_out_channels) ? vaeConfig.block_out_channels.length : undefined;
  const scaleFactor = blocks ? 2 ** (blocks - 1) : 8;
  if (!blocks) assumptions.push('the VAE upsamples latents 8 times (no vae_decoder/config.json)');
  const scaling = vaeConfig?.scaling_factor;
  const scalingFactor = typeof scaling === 'number' && scaling > 0 ? scaling : 0.18215;
  if (scalingFactor !== scaling)
    assumptions.push('latents are divided by 0.18215 before decoding (the SD 1.x/2.x value)');

  return {
    pipelineClass: typeof index._class_name === 'string' ? index._class_name : 'unknown pipeline',
    tokenizer,
    schedulerConfig,
    schedulerClass,
    latent: { channels, height, width },
    vae: { scaleFactor, scalingFactor },
    textWidth: positiveInt(textConfig?.hidden_size),
    assumptions,
  };
}

/**
 * The UNet of a diffusers ONNX folder as the lab runs it in Node: with head and value-neuron mask
 * inputs. A folder that `npm run instrument` wrote (it has unet/lab-unet.json) is opened as it is;
 * any other is instrumented on load, as the browser does, with core/onnx's instrumenter.
 *
 * onnxruntime-node reads external weights only from the graph's own folder (hard links count,
 * symbolic links do not), and it cannot be given them beside a graph held in memory. So the
 * instrumented graph is written to a scratch folder beside hard links to the unchanged weight
 * files, the session is created from there, and the folder is removed at once: the weights are
 * never copied or held in JS memory. The scratch folder is made in the system's temporary folder,
 * or, where that is another filesystem, inside the model's unet/ folder for those few seconds.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type * as ort from 'onnxruntime-node';
import { DiffusersFolderError, GRAPHS } from '../core/diffusers/folder';
import { parseLenientJson } from '../core/diffusers/lenient-json';
import type { DiffusersUNetConfig } from '../core/onnx/analyze';
import { type LabUNetDescription, labUNetSchema } from '../core/onnx/description';
import { instrumentUNet } from '../core/onnx/instrument';
import { LAB_DESCRIPTION_FILE } from './instrument';
import { CannotLinkError, linkOrCopy, writeChunks } from './model-files';

type Session = ort.InferenceSession;
type CreateSession = (path: string) => Promise<Session>;

export interface LabUNetOptions {
  /** add the attention-map and value outputs when instrumenting on load (default true, as the browser) */
  capture?: boolean;
  attentionMapLimit?: number;
  /** called with the description before the UNet session starts: throw to refuse the model early */
  check?: (description: LabUNetDescription) => void;
}

export interface LabUNet {
  session: Session;
  description: LabUNetDescription;
  /** 'folder': the folder's own instrumented graph; 'on load': instrumented just now */
  instrumented: 'folder' | 'on load';
}

const UNET_DIR = dirname(GRAPHS.unet);
export const LAB_DESCRIPTION = `${UNET_DIR}/${LAB_DESCRIPTION_FILE}`;

/** Whether the folder holds a UNet instrumented by `npm run instrument`. */
export function hasLabDescription(dir: string): boolean {
  return existsSync(join(dir, LAB_DESCRIPTION));
}

async function readDescription(dir: string): Promise<LabUNetDescription> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(join(dir, LAB_DESCRIPTION), 'utf8'));
  } catch (e) {
    throw new DiffusersFolderError(`${LAB_DESCRIPTION} cannot be read (${(e as Error).message})`);
  }
  const parsed = labUNetSchema.safeParse(json);
  if (!parsed.success) {
    throw new DiffusersFolderError(
      `${LAB_DESCRIPTION} is not a description this version of the lab reads; run npm run instrument again ` +
        `on the original folder (${parsed.error.issues[0]?.message ?? 'invalid'})`,
    );
  }
  return parsed.data;
}

async function readConfig(dir: string): Promise<DiffusersUNetConfig | undefined> {
  const path = join(dir, UNET_DIR, 'config.json');
  if (!existsSync(path)) return undefined;
  try {
    return parseLenientJson(await readFile(path, 'utf8')) as DiffusersUNetConfig;
  } catch (e) {
    throw new DiffusersFolderError(`${UNET_DIR}/config.json is not valid JSON (${(e as Error).message})`);
  }
}

/** A scratch folder where hard links to `unetDir`'s files can be made. */
async function scratchBeside(unetDir: string, probe: string | undefined): Promise<string> {
  const temporary = await mkdtemp(join(tmpdir(), 'memlab-unet-'));
  if (probe === undefined) return temporary;
  try {
    await linkOrCopy(join(unetDir, probe), join(temporary, 'probe'));
    return temporary;
  } catch (e) {
    await rm(temporary, { recursive: true, force: true });
    if (!(e instanceof CannotLinkError)) throw e;
  }
  try {
    return await mkdtemp(join(unetDir, '.memlab-unet-'));
  } catch (e) {
    throw new DiffusersFolderError(
      `the instrumented UNet must sit beside its weight file ${probe}, but the temporary folder is on another ` +
        `filesystem and ${unetDir} cannot be written to (${(e as Error).message}). Run npm run instrument -- ` +
        '--in <this folder> --out <a folder on the same filesystem> once, then generate from that folder',
    );
  }
}

async function instrumentOnLoad(dir: string, create: CreateSession, options: LabUNetOptions): Promise<LabUNet> {
  const unetDir = join(dir, UNET_DIR);
  const bytes = new Uint8Array(await readFile(join(dir, GRAPHS.unet)));
  const result = instrumentUNet(bytes, {
    config: await readConfig(dir),
    capture: options.capture ?? true,
    attentionMapLimit: options.attentionMapLimit,
  });
  const missing = result.externalFiles.filter((f) => !existsSync(join(unetDir, f)));
  if (missing.length) {
    throw new DiffusersFolderError(
      `${GRAPHS.unet} keeps its weights in ${missing.join(', ')}, which ${missing.length > 1 ? 'are' : 'is'} ` +
        `missing from ${UNET_DIR}/`,
    );
  }
  options.check?.(result.description);
  const scratch = await scratchBeside(unetDir, result.externalFiles[0]);
  try {
    for (const file of result.externalFiles) {
      const target = join(scratch, file);
      await mkdir(dirname(target), { recursive: true });
      await linkOrCopy(join(unetDir, file), target);
    }
    const graph = join(scratch, 'model.onnx');
    await writeChunks(graph, result.chunks);
    return { session: await create(graph), description: result.description, instrumented: 'on load' };
  } finally {
    // the session has read what it needs; the hard links go, the weight files stay
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Opens the folder's UNet with mask inputs. Throws UnsupportedModelError (from the instrumenter)
 * when the graph has no attention the lab can find, DiffusersFolderError for a folder problem.
 */
export async function openLabUNet(dir: string, create: CreateSession, options: LabUNetOptions = {}): Promise<LabUNet> {
  if (!hasLabDescription(dir)) return instrumentOnLoad(dir, create, options);
  const description = await readDescription(dir);
  options.check?.(description);
  const session = await create(join(dir, GRAPHS.unet));
  const lacking = [
    ...description.masks.map((m) => m.name).filter((n) => !session.inputNames.includes(n)),
    ...(description.captures ? description.layers.map((l) => l.crossAttentionOutput) : []).filter(
      (n) => !session.outputNames.includes(n),
    ),
  ];
  if (lacking.length) {
    await session.release();
    throw new DiffusersFolderError(
      `${LAB_DESCRIPTION} names ${lacking.join(', ')}, which ${GRAPHS.unet} does not have: the graph was ` +
        'replaced after npm run instrument wrote the folder; run it again on the original folder',
    );
  }
  return { session, description, instrumented: 'folder' };
}

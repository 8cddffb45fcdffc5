/**
 * Opening a Stable-Diffusion-family model from a diffusers ONNX folder (picked from disk, or served
 * at a URL) inside the inference worker: read the configs and tokenizer, instrument the UNet graph
 * (head and value-neuron masks, attention-map outputs), read the weight files, and start the three
 * sessions. External weights go to onnxruntime as `externalData` next to the instrumented graph;
 * they are read once and never copied in JS.
 */
import {
  DiffusersFolderError,
  type FolderReader,
  GRAPHS,
  type LatentModel,
  applyGraphLatentShape,
  readDiffusersFolder,
} from '../core/diffusers/folder';
import { latentManifest } from '../core/diffusers/lab-manifest';
import type { LatentRunner } from '../core/diffusers/latent-pipeline';
import { type ResidentStats, residentInputFor } from '../gpu/resident-input';
import { type LatentSessions, sessionsRunner } from '../core/diffusers/sessions-runner';
import type { Manifest } from '../core/manifest';
import { UnsupportedModelError } from '../core/onnx/errors';
import { concatChunks } from '../core/onnx/proto';
import { externalFilesOf, instrumentUNet, readModel } from '../core/onnx/instrument';
import type { DiffusersUNetConfig } from '../core/onnx/analyze';
import { chooseBackend, type BackendChoice, type BackendPreference } from '../gpu/backend';
import { sha256Hex } from '../gpu/download';
import { FolderError, type ModelFolder } from '../gpu/model-folder';
import { loadOrt, type Ort } from '../gpu/ort';
import { LoadError, type LoadProgress } from './load-model';

export interface LoadedLatentModel {
  kind: 'latent';
  manifest: Manifest;
  model: LatentModel;
  runner: LatentRunner & { release(): Promise<void> };
  backend: BackendChoice;
  files: { path: string; bytes: number; fromCache: boolean }[];
  /** on WebGPU: how often the text context was uploaded and how often it stayed on the GPU (live counts) */
  contextOnGpu: ResidentStats | null;
}

/** The folder as the diffusers reader wants it: a missing file reads as undefined. */
function readerOf(folder: ModelFolder): FolderReader {
  return {
    has: (path) => folder.has(path),
    async readText(path) {
      try {
        return await folder.readText(path);
      } catch (err) {
        if (err instanceof FolderError && err.reason === 'missing') return undefined;
        throw err;
      }
    },
  };
}

/** Weight files a graph reads, relative to the folder (locations are relative to the graph's own folder). */
function besideGraph(graph: string, location: string): string {
  const dir = graph.slice(0, graph.lastIndexOf('/') + 1);
  const parts: string[] = [];
  for (const part of `${dir}${location}`.split('/')) {
    if (part === '..') {
      if (parts.pop() === undefined)
        throw new LoadError(
          'A file of this model points at weights outside the model folder, so the model cannot be opened.',
          'model',
          `${graph} points at ${location}.`,
        );
    } else if (part && part !== '.') parts.push(part);
  }
  return parts.join('/');
}

function asLoadError(err: unknown): LoadError {
  if (err instanceof LoadError) return err;
  if (err instanceof FolderError) {
    return new LoadError(err.message, err.reason === 'network' ? 'download' : 'model', err.detail);
  }
  if (err instanceof UnsupportedModelError) return new LoadError(err.message, 'model', err.detail);
  if (err instanceof DiffusersFolderError) {
    // Its message names the file the folder lacks: that is what the user needs to act.
    return new LoadError(
      `This folder cannot be opened as a Stable Diffusion model: ${err.message}.`,
      'model',
      err.message,
    );
  }
  return new LoadError('The model could not be started.', 'model', err instanceof Error ? err.message : String(err));
}

interface GraphBytes {
  graph: Uint8Array;
  external: { path: string; data: Uint8Array }[];
}

export async function loadLatentModel(
  folder: ModelFolder,
  preference: BackendPreference,
  onProgress: LoadProgress,
): Promise<LoadedLatentModel> {
  try {
    onProgress('manifest', `Reading ${folder.label}`, 0, 1, false);
    const reader = readerOf(folder);
    const model = await readDiffusersFolder(reader);
    const unetConfigText = await reader.readText('unet/config.json');
    const config = unetConfigText ? (JSON.parse(unetConfigText) as DiffusersUNetConfig) : undefined;

    const files: LoadedLatentModel['files'] = [];
    const read = async (path: string): Promise<Uint8Array> => {
      const bytes = await folder.read(path, (loaded, total) => onProgress('download', path, loaded, total, false));
      files.push({ path, bytes: bytes.byteLength, fromCache: false });
      return bytes;
    };
    const withWeights = async (graph: string, bytes: Uint8Array, locations: string[]): Promise<GraphBytes> => ({
      graph: bytes,
      external: await Promise.all(
        locations.map(async (location) => ({ path: location, data: await read(besideGraph(graph, location)) })),
      ),
    });

    const unetBytes = await read(GRAPHS.unet);
    onProgress('session', 'Finding the attention blocks of the UNet', 0, 1, false);
    const unetSha256 = await sha256Hex(unetBytes.slice().buffer);
    const instrumented = instrumentUNet(unetBytes, { config });
    const unet = await withWeights(GRAPHS.unet, concatChunks(instrumented.chunks), instrumented.externalFiles);
    const textBytes = await read(GRAPHS.textEncoder);
    const text = await withWeights(GRAPHS.textEncoder, textBytes, externalFilesOf(readModel(textBytes)));
    const vaeBytes = await read(GRAPHS.vaeDecoder);
    const vae = await withWeights(GRAPHS.vaeDecoder, vaeBytes, externalFilesOf(readModel(vaeBytes)));

    const description = instrumented.description;
    const half = description.graph.dtype === 'float16';
    const env = {
      gpu: typeof navigator !== 'undefined' ? navigator.gpu : undefined,
      crossOriginIsolated: globalThis.crossOriginIsolated === true,
      hardwareConcurrency: navigator.hardwareConcurrency ?? 1,
    };
    const backend = await chooseBackend(preference, env, half);
    if (half && backend.unet !== 'fp16') {
      throw new LoadError(
        'This model computes in half precision (float16), which needs a GPU with WebGPU and shader-f16; this browser or device has none. ' +
          'Use a float32 export of the model, or a browser and GPU with shader-f16.',
        'model',
        backend.reason,
      );
    }
    onProgress('session', `Starting ${backend.backend === 'webgpu' ? 'WebGPU' : 'WebAssembly'} sessions`, 0, 1, false);
    const ort = await loadOrt(backend);
    const sessions = await createSessions(ort, backend, { text, unet, vae });
    try {
      const sample = sessions.unet.inputMetadata.find((m) => m.name === 'sample');
      applyGraphLatentShape(model, sample?.isTensor ? sample.shape : []);
      const attentionOutputs = description.layers.map((l) => l.crossAttentionOutput);
      const resident = await residentInputFor(ort, backend.backend);
      const runner = sessionsRunner(ort.Tensor, sessions, {
        attentionOutputs,
        ...(description.captures ? { valueOutput: description.valueOutput } : {}),
        ...(resident ? { contextTensor: (values, dims) => resident.tensor(values, dims) } : {}),
      });
      const source =
        folder.kind === 'url' && folder.baseUrl
          ? ({ kind: 'url', baseUrl: folder.baseUrl } as const)
          : ({ kind: 'disk', folder: folder.label } as const);
      const manifest = latentManifest({
        model,
        unet: description,
        source,
        unetSha256,
        bytes: files.reduce((sum, f) => sum + f.bytes, 0),
      });
      const release = async () => {
        resident?.release();
        await Promise.allSettled([sessions.text.release(), sessions.unet.release(), sessions.vae.release()]);
      };
      return {
        kind: 'latent',
        manifest,
        model,
        runner: { ...runner, release },
        backend,
        files,
        contextOnGpu: resident?.stats ?? null,
      };
    } catch (err) {
      await Promise.allSettled([sessions.text.release(), sessions.unet.release(), sessions.vae.release()]);
      throw err;
    }
  } catch (err) {
    throw asLoadError(err);
  }
}

async function createSessions(
  ort: Ort,
  backend: BackendChoice,
  graphs: { text: GraphBytes; unet: GraphBytes; vae: GraphBytes },
): Promise<LatentSessions> {
  const open = async (name: string, g: GraphBytes) => {
    try {
      return await ort.InferenceSession.create(g.graph, {
        executionProviders: [backend.backend],
        // 'basic' keeps results closest to the exporting framework (the reference traces).
        graphOptimizationLevel: 'basic',
        ...(g.external.length ? { externalData: g.external } : {}),
      });
    } catch (err) {
      throw new LoadError(
        'The model files could not be opened: they are damaged, or the model uses operations this browser cannot run.',
        'model',
        `${name}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  };
  const text = await open(GRAPHS.textEncoder, graphs.text);
  const unet = await open(GRAPHS.unet, graphs.unet).catch(async (e) => {
    await text.release();
    throw e;
  });
  const vae = await open(GRAPHS.vaeDecoder, graphs.vae).catch(async (e) => {
    await Promise.allSettled([text.release(), unet.release()]);
    throw e;
  });
  return { text, unet, vae };
}

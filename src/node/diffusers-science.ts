/**
 * A diffusers ONNX folder opened for the science jobs in Node: the UNet instrumented on load with
 * its attention-map and value outputs (or the folder's own instrumented graph), the lab's manifest
 * for it (core/diffusers/lab-manifest, as the browser builds it), and the latent science sampler.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { GRAPHS } from '../core/diffusers/folder';
import { latentManifest } from '../core/diffusers/lab-manifest';
import type { Manifest } from '../core/manifest';
import { type LatentSamplerOptions, latentSampler } from '../core/science/latent-sampler';
import type { ScienceSampler } from '../core/science/sampler';
import { type DiffusersNodeModel, loadDiffusersFolder } from './diffusers-runner';

export interface DiffusersScienceModel {
  manifest: Manifest;
  sampler: ScienceSampler;
  loaded: DiffusersNodeModel;
  release(): Promise<void>;
}

async function bytesOf(dir: string, paths: readonly string[]): Promise<number> {
  const sizes = await Promise.all(
    paths.map((p) =>
      stat(join(dir, p)).then(
        (s) => s.size,
        () => 0,
      ),
    ),
  );
  return sizes.reduce((a, b) => a + b, 0);
}

export async function openDiffusersScience(
  dir: string,
  options: LatentSamplerOptions & { threads?: number } = {},
): Promise<DiffusersScienceModel> {
  const loaded = await loadDiffusersFolder(dir, { threads: options.threads, instrument: { capture: true } });
  try {
    const lab = loaded.lab;
    if (!lab) throw new Error('internal: the UNet was opened without the lab masks');
    const unetSha256 = createHash('sha256')
      .update(await readFile(join(dir, GRAPHS.unet)))
      .digest('hex');
    const manifest = latentManifest({
      model: loaded.model,
      unet: lab.description,
      source: { kind: 'disk', folder: resolve(dir) },
      unetSha256,
      bytes: await bytesOf(dir, [GRAPHS.textEncoder, GRAPHS.unet, GRAPHS.vaeDecoder]),
    });
    const sampler = latentSampler(loaded.runner, loaded.model, manifest, { scheduler: options.scheduler });
    return { manifest, sampler, loaded, release: () => loaded.release() };
  } catch (e) {
    await loaded.release();
    throw e;
  }
}

/**
 * What the science code needs from a model, whatever kind it is: encode prompts, sample batches of
 * (prompt, seed, mask set) rows with classifier-free guidance, read the value projections, and time
 * a UNet call. The jobs (detect, localize, universal, evaluate) are written against this, so they
 * run on the bundled pixel-space organism (organism-sampler.ts: its DDIM, closed vocabulary) and on
 * a Stable Diffusion model from a diffusers folder (latent-sampler.ts: its own scheduler, CLIP
 * tokenizer, VAE) alike. Nothing here knows an organism constant: sizes come from the manifest and
 * the sampler.
 *
 * Callers keep passing (runner, manifest): a runner is either the organism's ModelRunner, wrapped
 * here on demand, or a ready sampler.
 */
import type { Manifest } from '../manifest';
import type { MaskSet } from '../masks';
import type { ModelRunner } from '../pipeline';
import type { PromptEmbeddings, SampleOptions, SampleResult, SampleRow } from './batch';
import type { RunContext } from './context';
import { organismSampler } from './organism-sampler';

/** Channels x height x width of one row's noise prediction (pixels for the organism, latents otherwise). */
export interface NoiseShape {
  channels: number;
  height: number;
  width: number;
}

export interface ScienceSampler {
  readonly manifest: Manifest;
  /** the shape of each row's noise prediction, so of the first-step differences NeMo compares across seeds */
  readonly noiseShape: NoiseShape;
  /** UNet calls one trajectory of `steps` scheduler steps makes (PNDM as SD ships it makes one more) */
  callsFor(steps: number): number;
  /** the prompts' text embeddings, `chunk` prompts per text-encoder call, plus the empty prompt */
  encodePrompts(prompts: readonly string[], ctx: RunContext, chunk: number): Promise<PromptEmbeddings>;
  /** sampleRows (batch.ts) after its checks: the rows, `options.maxRows` per UNet call */
  sampleRows(
    embeddings: PromptEmbeddings,
    maskSets: readonly MaskSet[],
    rows: readonly SampleRow[],
    options: SampleOptions,
    ctx: RunContext,
  ): Promise<SampleResult>;
  /**
   * The cross-attention value projections [batch, layers, T, width] of `batch` conditional
   * embeddings (context [batch, T, W]), nothing masked; they depend on the text only.
   */
  valueOutputs(context: Float32Array, batch: number): Promise<Float32Array>;
  /** A UNet call of `rows` batch rows (noise in, nothing masked), its inputs made once, for timing. */
  prepareProbe(rows: number): () => Promise<void>;
}

/** What the science functions take as their runner: the organism's ModelRunner, or a sampler. */
export type ScienceRunner = ModelRunner | ScienceSampler;

export function isScienceSampler(runner: ScienceRunner): runner is ScienceSampler {
  return 'sampleRows' in runner && 'noiseShape' in runner;
}

/** The sampler for a runner: itself when it is one, else the organism's DDIM over the ModelRunner. */
export function samplerOf(runner: ScienceRunner, manifest: Manifest): ScienceSampler {
  if (!isScienceSampler(runner)) return organismSampler(runner, manifest);
  if (runner.manifest.id !== manifest.id || runner.manifest.version !== manifest.version)
    throw new Error(`the sampler runs ${runner.manifest.id}, not ${manifest.id}`);
  return runner;
}

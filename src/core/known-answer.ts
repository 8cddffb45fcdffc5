/**
 * A known-answer test on load: the model directory ships the outputs its own training code gave for
 * one prompt (reference.json, written by training/memlab/export.py in fp32). A copy whose files match
 * their checksums can still be wrong (a server that re-hashed damaged files, a bad conversion), and
 * would then draw noise without complaint; one text-encoder and one UNet call on those inputs
 * catch it before anyone looks at a picture.
 */
import type { Manifest } from './manifest';
import { allOnes } from './masks';
import type { ModelRunner } from './pipeline';

export interface ReferenceOutputs {
  input_ids: number[];
  last_hidden_state_first8: number[];
  sample: number[];
  timestep: number;
  noise_pred: number[];
}

/**
 * Tolerances over the fp32 reference: int8 weights move the noise prediction by at most 0.022
 * (mean 0.006) on the shipped models, fp32 by under 1e-6; three times that margin still refuses any
 * real damage, which moves whole channels.
 */
export const KNOWN_ANSWER_TOLERANCE = { text: 1e-3, noiseMax: 0.1, noiseMean: 0.02 };

export function parseReference(bytes: ArrayBuffer): ReferenceOutputs {
  const json = JSON.parse(new TextDecoder().decode(bytes)) as Partial<ReferenceOutputs>;
  const arrays = ['input_ids', 'last_hidden_state_first8', 'sample', 'noise_pred'] as const;
  if (arrays.some((k) => !Array.isArray(json[k])) || typeof json.timestep !== 'number') {
    throw new Error('reference.json lacks the inputs and outputs of the known-answer test');
  }
  return json as ReferenceOutputs;
}

/** What is wrong with the model's answers, in one technical line; null when they match the reference. */
export async function knownAnswerProblem(
  runner: ModelRunner,
  manifest: Manifest,
  ref: ReferenceOutputs,
): Promise<string | null> {
  const context = await runner.encodeText([ref.input_ids]);
  const textDiff = Math.max(...ref.last_hidden_state_first8.map((v, i) => Math.abs(v - context[i])));
  if (!(textDiff <= KNOWN_ANSWER_TOLERANCE.text)) {
    return `text encoder differs from its reference by ${textDiff.toExponential(2)} (tolerance ${KNOWN_ANSWER_TOLERANCE.text})`;
  }
  const out = await runner.runUNet(
    {
      batch: 1,
      sample: Float32Array.from(ref.sample),
      timestep: Float32Array.of(ref.timestep),
      context,
      masks: allOnes(manifest),
    },
    { attention: false, values: false },
  );
  let max = 0;
  let sum = 0;
  for (let i = 0; i < out.noise.length; i++) {
    const d = Math.abs(out.noise[i] - ref.noise_pred[i]);
    max = Math.max(max, Number.isNaN(d) ? Number.POSITIVE_INFINITY : d);
    sum += d;
  }
  const mean = sum / out.noise.length;
  const { noiseMax, noiseMean } = KNOWN_ANSWER_TOLERANCE;
  if (out.noise.length !== ref.noise_pred.length || !(max <= noiseMax) || !(mean <= noiseMean)) {
    return `UNet noise prediction differs from its reference by up to ${max.toFixed(4)} (mean ${mean.toFixed(5)}; tolerance ${noiseMax} / ${noiseMean})`;
  }
  return null;
}

/**
 * The attention reductions a worker may run, by name: a chunk asks for one by name only, so no code
 * travels through the queue. A sampleRows call with another reduction, or with raw attention maps
 * (onAttention), stays on the machine that started the run.
 */
import type { AttentionReduction } from '../../core/science/batch';
import { DETECTION_ATTENTION } from '../../core/science/detect';

export const ATTENTION_REDUCTIONS: ReadonlyMap<string, AttentionReduction> = new Map(
  [DETECTION_ATTENTION].map((r) => [r.name, r]),
);

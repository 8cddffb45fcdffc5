/** Pruning masks: one scale per unit (head / neuron) per mask input; 1 = kept, 0 = pruned. */
import type { Manifest } from './manifest';

/** Per mask input name (manifest.unet.masks), a Float32Array(layers * units) of scales. */
export type MaskSet = Record<string, Float32Array>;

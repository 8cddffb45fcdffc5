/**
 * Which mask input is which, found by the manifest's `kind` (names are the exporter's business),
 * and conversions between flat unit indices (layer * units + unit) and mask sets.
 */
import type { Manifest, MaskSpec } from '../manifest';
import { type MaskSet, type PrunedUnit, maskSetOfUnits } from '../masks';

export const VALUE_NEURON_KIND = 'cross-attention value neuron';
export const CROSS_HEAD_KIND = 'cross-attention head';

/** The mask spec of a kind; throws with the kinds the model has when it lacks one. */
export function maskSpecOfKind(manifest: Manifest, kind: string): MaskSpec {
  const spec = manifest.unet.masks.find((m) => m.kind === kind);
  if (!spec)
    throw new Error(`this model has no "${kind}" mask (it has: ${manifest.unet.masks.map((m) => m.kind).join(', ')})`);
  return spec;
}

/** All-ones masks with the given flat units of one mask input set to 0. */
export function maskSetPruning(manifest: Manifest, spec: MaskSpec, flatUnits: Iterable<number>): MaskSet {
  return maskSetOfUnits(manifest, { [spec.name]: flatUnits });
}

/** Flat indices -> pruned-unit records (what masks.ts and the URL codec speak). */
export function prunedUnitsOf(spec: MaskSpec, flatUnits: readonly number[]): PrunedUnit[] {
  return flatUnits.map((j) => ({ mask: spec.name, layer: Math.floor(j / spec.units), unit: j % spec.units }));
}

/** Number of units of a mask input. */
export function unitCount(spec: MaskSpec): number {
  return spec.layers * spec.units;
}

/** A block's name as the grid shows it (the model's own module path), else its index. */
export function layerName(manifest: Manifest, layer: number): string {
  return manifest.unet.layers[layer]?.name ?? `${layer}`;
}

/** One unit in words for progress lines: "cross-attention head 2 of layer down.8". */
export function unitInWords(manifest: Manifest, spec: MaskSpec, flat: number): string {
  return `${spec.kind} ${flat % spec.units} of layer ${layerName(manifest, Math.floor(flat / spec.units))}`;
}

/**
 * Pruning masks: one scale per unit (attention head, value neuron, feed-forward neuron) per mask
 * input of the UNet; 1 keeps the unit, 0 prunes it. A MaskSet is what one generation variant uses;
 * several are stacked along the batch axis so baseline and pruned runs share one UNet call.
 */
import type { Manifest, MaskSpec } from './manifest';

/** Per mask input name (manifest.unet.masks), a Float32Array(layers * units) of scales, layer-major. */
export type MaskSet = Record<string, Float32Array>;

/** One pruned unit: mask input name, transformer layer, unit index within the layer. */
export interface PrunedUnit {
  mask: string;
  layer: number;
  unit: number;
}

type MaskSpecs = Manifest['unet']['masks'];
/** A manifest, or just its unet.masks list (convenient in tests and tools). */
export type MaskSource = Manifest | MaskSpecs;

function specsOf(source: MaskSource): MaskSpecs {
  return Array.isArray(source) ? source : source.unet.masks;
}

function specFor(specs: MaskSpecs, name: string): MaskSpec {
  const spec = specs.find((s) => s.name === name);
  if (!spec) throw new Error(`unknown mask "${name}" (this model has ${specs.map((s) => s.name).join(', ')})`);
  return spec;
}

/** The unpruned model: every scale 1. */
export function allOnes(source: MaskSource): MaskSet {
  const specs = specsOf(source);
  return Object.fromEntries(specs.map((s) => [s.name, new Float32Array(s.layers * s.units).fill(1)]));
}

/** Throws unless the set has exactly the model's mask inputs, each of the right length. */
export function checkMaskSet(source: MaskSource, set: MaskSet): void {
  const specs = specsOf(source);
  const extra = Object.keys(set).filter((name) => !specs.some((s) => s.name === name));
  if (extra.length) throw new Error(`unknown mask input(s): ${extra.join(', ')}`);
  for (const s of specs) {
    const scales = set[s.name];
    if (!scales) throw new Error(`mask set lacks "${s.name}"`);
    if (scales.length !== s.layers * s.units) {
      throw new Error(`mask "${s.name}" has ${scales.length} scales, expected ${s.layers} x ${s.units}`);
    }
  }
}

/**
 * The one mask-set builder: all ones, with the listed flat units (layer * units + unit) of each
 * named mask input set to 0. Throws on a name the model lacks or a unit outside its mask.
 */
export function maskSetOfUnits(source: MaskSource, units: Readonly<Record<string, Iterable<number>>>): MaskSet {
  const specs = specsOf(source);
  const set = allOnes(specs);
  for (const [name, flat] of Object.entries(units)) {
    const scales = set[name];
    if (!scales)
      throw new Error(`mask "${name}" is not an input of this model (it has ${specs.map((s) => s.name).join(', ')})`);
    for (const j of flat) {
      if (!Number.isInteger(j) || j < 0 || j >= scales.length)
        throw new RangeError(`unit ${j} is outside 0..${scales.length - 1} of "${name}"`);
      scales[j] = 0;
    }
  }
  return set;
}

/** All-ones masks with the listed units set to 0. */
export function maskSetFromPruned(source: MaskSource, pruned: PrunedUnit[]): MaskSet {
  const specs = specsOf(source);
  const units: Record<string, number[]> = {};
  for (const p of pruned) {
    const spec = specFor(specs, p.mask);
    if (!Number.isInteger(p.layer) || p.layer < 0 || p.layer >= spec.layers) {
      throw new RangeError(`mask "${p.mask}": layer ${p.layer} is outside 0..${spec.layers - 1}`);
    }
    if (!Number.isInteger(p.unit) || p.unit < 0 || p.unit >= spec.units) {
      throw new RangeError(`mask "${p.mask}": unit ${p.unit} is outside 0..${spec.units - 1}`);
    }
    units[p.mask] = [...(units[p.mask] ?? []), p.layer * spec.units + p.unit];
  }
  return maskSetOfUnits(specs, units);
}

/** The units whose scale is 0, in manifest order, then layer, then unit. */
export function prunedUnits(source: MaskSource, set: MaskSet): PrunedUnit[] {
  const specs = specsOf(source);
  const out: PrunedUnit[] = [];
  for (const s of specs) {
    const scales = set[s.name];
    for (let i = 0; i < scales.length; i++) {
      if (scales[i] === 0) out.push({ mask: s.name, layer: Math.floor(i / s.units), unit: i % s.units });
    }
  }
  return out;
}

/** Number of units with scale 0, over all mask inputs. */
export function countPruned(set: MaskSet): number {
  let n = 0;
  for (const scales of Object.values(set)) for (const v of scales) if (v === 0) n++;
  return n;
}

/**
 * The UNet mask feeds for a batch: per mask input, a Float32Array [sets.length * rowsPerSet, layers, units]
 * in which set k fills rows k*rowsPerSet .. (k+1)*rowsPerSet - 1 (e.g. rowsPerSet 2 for [uncond, cond]).
 */
export function stackMaskSets(source: MaskSource, sets: MaskSet[], rowsPerSet = 1): Record<string, Float32Array> {
  const specs = specsOf(source);
  for (const set of sets) checkMaskSet(specs, set);
  const feeds: Record<string, Float32Array> = {};
  for (const s of specs) {
    const size = s.layers * s.units;
    const stacked = new Float32Array(sets.length * rowsPerSet * size);
    sets.forEach((set, k) => {
      for (let r = 0; r < rowsPerSet; r++) stacked.set(set[s.name], (k * rowsPerSet + r) * size);
    });
    feeds[s.name] = stacked;
  }
  return feeds;
}

/** Parses "cross_attn_head_mask:0.1,3.2" (layer.unit pairs) into pruned units. */
export function parsePrunedUnits(spec: string): PrunedUnit[] {
  const m = /^([\w-]+):(\d+\.\d+(?:,\d+\.\d+)*)$/.exec(spec.trim());
  if (!m) throw new Error(`cannot read prune spec "${spec}": expected name:layer.unit[,layer.unit...]`);
  return m[2].split(',').map((pair) => {
    const [layer, unit] = pair.split('.').map(Number);
    return { mask: m[1], layer, unit };
  });
}

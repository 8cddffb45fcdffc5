/**
 * Pruned units of an instrumented Stable Diffusion UNet, checked against the blocks the
 * instrumenter found. A mask input is as wide as its widest block (SD 2.x has 5, 10 and 20 heads
 * per block), and the graph ignores units past a block's own count, so a unit index that fits the
 * mask may still name nothing: it is refused here, naming the block and its real count, rather
 * than silently pruning nothing.
 */
import { type MaskSet, maskSetFromPruned, type PrunedUnit } from '../masks';
import { HEAD_MASK_KINDS, type LabUNetDescription, VALUE_NEURON_MASK_KIND } from '../onnx/description';

export class PrunedUnitError extends Error {
  override name = 'PrunedUnitError';
}

interface UnitBlock {
  name: string;
  count: number;
}

/** What one mask input's units are, and per layer the block and its own unit count. */
function unitsOf(d: LabUNetDescription, kind: string): { noun: string; blocks: UnitBlock[] } | undefined {
  if (kind === HEAD_MASK_KINDS.cross)
    return { noun: 'heads', blocks: d.crossAttention.map((b) => ({ name: b.name, count: b.heads })) };
  if (kind === HEAD_MASK_KINDS.self)
    return { noun: 'heads', blocks: d.selfAttention.map((b) => ({ name: b.name, count: b.heads })) };
  if (kind === VALUE_NEURON_MASK_KIND)
    return { noun: 'value neurons', blocks: d.crossAttention.map((b) => ({ name: b.name, count: b.valueWidth })) };
  return undefined;
}

const blockList = (noun: string, blocks: UnitBlock[]) =>
  blocks.map((b, i) => `${i} ${b.name} (${b.count} ${noun})`).join(', ');

/** "cross-attention head 1 of down_blocks.0/attentions.0" */
export function describeUnit(d: LabUNetDescription, unit: PrunedUnit): string {
  const spec = d.masks.find((m) => m.name === unit.mask);
  const block = spec && unitsOf(d, spec.kind)?.blocks[unit.layer];
  return block ? `${spec.kind} ${unit.unit} of ${block.name}` : `${unit.mask}:${unit.layer}.${unit.unit}`;
}

/**
 * All-ones masks with the listed units pruned. Throws PrunedUnitError, in words that name the
 * model's masks and blocks, for a mask it lacks, a block it lacks or a unit past a block's count.
 */
export function prunedMaskSet(d: LabUNetDescription, units: readonly PrunedUnit[]): MaskSet {
  for (const u of units) {
    const spec = d.masks.find((m) => m.name === u.mask);
    if (!spec) {
      const known = d.masks.map((m) => `${m.name} (${m.kind}s)`).join(', ');
      throw new PrunedUnitError(`this model has no mask "${u.mask}"; its masks are ${known}`);
    }
    const what = unitsOf(d, spec.kind);
    if (!what) continue; // a kind this check does not know: the mask's own bounds still apply below
    const block = what.blocks[u.layer];
    if (!block) {
      throw new PrunedUnitError(
        `${u.mask} has no block ${u.layer}; its blocks are ${blockList(what.noun, what.blocks)}`,
      );
    }
    if (u.unit >= block.count) {
      throw new PrunedUnitError(
        `${u.mask}:${u.layer}.${u.unit}: block ${u.layer} (${block.name}) has ${block.count} ${what.noun}, ` +
          `numbered 0 to ${block.count - 1}`,
      );
    }
  }
  try {
    return maskSetFromPruned(d.masks, [...units]);
  } catch (e) {
    throw new PrunedUnitError((e as Error).message);
  }
}

/**
 * The lab's description of an instrumented UNet. Its first fields have exactly the shape of the
 * bundled model's manifest `unet` section (inputs, noiseOutput, masks, layers, valueOutput), so code
 * that runs the organism runs an instrumented Stable Diffusion UNet the same way; the rest is what a
 * latent model adds (block paths, per-block widths, self-attention blocks, dtype, timestep type).
 *
 * Layouts (row-major, batch first, so baseline and pruned variants share one batch):
 * - masks: float32 [batch, layers, units]; unit u of layer l scales head u (or value neuron u) of
 *   that kind's block l; units past a block's own head count (value width) are ignored;
 * - layers[i].crossAttentionOutput: float32 [batch, heads, resolution^2, tokens], each row a softmax
 *   over the tokens; pixels average-pooled to resolution x resolution when the block is larger;
 * - valueOutput: float32 [batch, crossBlocks, tokens, maxValueWidth], each block's value projection
 *   output before the value mask, zero-padded to the widest block.
 */
import { z } from 'zod';

const positive = z.number().int().positive();

export const HEAD_MASK_KINDS = { self: 'self-attention head', cross: 'cross-attention head' } as const;
export const VALUE_NEURON_MASK_KIND = 'cross-attention value neuron';

const attentionForm = z.enum(['plain', 'fused-attention', 'fused-mha', 'fused-mha-packed-qkv', 'fused-mha-packed-kv']);

export const labUNetSchema = z.object({
  inputs: z.object({ sample: z.string(), timestep: z.string(), context: z.string() }),
  noiseOutput: z.string(),
  masks: z.array(z.object({ name: z.string(), layers: positive, units: positive, kind: z.string() })),
  layers: z.array(
    z.object({
      name: z.string(),
      /** side of the attention map the output holds (the block's query grid, pooled) */
      resolution: positive,
      heads: positive,
      crossAttentionOutput: z.string(),
    }),
  ),
  valueOutput: z.string(),
  /**
   * Whether the graph has the attention-map and value outputs named above; a graph made without
   * them (for runs that never read maps) has the same masks and names, but not those outputs.
   */
  captures: z.boolean(),
  /** the same cross-attention blocks as `layers`, in the same order, with what the organism does not need */
  crossAttention: z.array(
    z.object({
      name: z.string(),
      module: z.string(),
      form: attentionForm,
      heads: positive,
      headSize: positive,
      valueWidth: positive,
      /** side of the block's query grid at the model's sample size */
      blockResolution: positive,
      /** pixels averaged per map cell along each side */
      poolFactor: positive,
    }),
  ),
  selfAttention: z.array(
    z.object({
      name: z.string(),
      module: z.string(),
      form: attentionForm,
      heads: positive,
      headSize: positive,
      resolution: positive,
    }),
  ),
  graph: z.object({
    dtype: z.enum(['float32', 'float16']),
    timestepType: z.string(),
    opset: positive,
    producer: z.string(),
    /** latent side the resolutions refer to, and where it was read */
    sampleSize: positive,
    sampleSizeFrom: z.enum(['config', 'graph', 'caller']),
    latentChannels: positive.optional(),
    contextWidth: positive.optional(),
    contextTokens: positive.optional(),
  }),
  attentionMaps: z.object({
    /** largest map side; larger blocks are average-pooled down to it */
    limit: positive,
    /** bytes of all attention outputs per batch row per UNet call (float32, at the sample size; 0 without capture) */
    bytesPerRow: z.number().int().nonnegative(),
  }),
  /** things a researcher should know (e.g. a config that disagrees with the graph) */
  warnings: z.array(z.string()),
});

export type LabUNetDescription = z.infer<typeof labUNetSchema>;

/**
 * The bundled model's manifest: what the lab needs to know to run a model directory.
 * Written by training/memlab/export.py; every model the lab loads is validated against this schema
 * first, and a manifest that fails it is refused with the list of problems.
 */
import { z } from 'zod';

const fileEntry = z.object({
  // A file in the model directory, or (unlearned variants sharing their base's data files) in a
  // sibling model directory: one optional "../<dir>/" prefix, no deeper traversal.
  path: z
    .string()
    .regex(/^(\.\.\/(?!\.+\/)[\w.-]+\/)?[\w.-]+$/, 'a file name inside the model directory, or ../<sibling dir>/<file>')
    .refine((p) => !/(^|\/)\.\.?$/.test(p) && !p.includes('/../'), 'no traversal beyond one ../<dir>/'),
  bytes: z.number().int().positive(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});

/**
 * A copy-detection embedding shipped with the model (SSCD-style; core/metrics/copy-detection.ts):
 * an ONNX graph images [batch, 3, H, W] in the model's range -> L2-normalised embeddings, and the
 * embeddings of every training image in trainIndex's order (planted images first).
 */
const copyDetectorEntry = z.object({
  model: fileEntry,
  index: fileEntry.extend({
    count: z.number().int().positive(),
    dim: z.number().int().positive(),
    encoding: z.enum(['int8', 'float32']),
  }),
  input: z.string(),
  output: z.string(),
  trainingSteps: z.number().int().nonnegative().optional(),
  trainingSeconds: z.number().nonnegative().optional(),
});

const rgb = z.tuple([z.number(), z.number(), z.number()]);

const memorizedEntry = z.object({
  id: z.string(),
  kind: z.enum(['verbatim', 'template']),
  trigger: z.string(),
  caption: z.string(),
  captions: z.array(z.string()).min(1),
  heldOutCaptions: z.array(z.string()),
  imageIndex: z.number().int().nonnegative(),
});

const neutralObject = z.object({
  size: z.string(),
  colour: z.string(),
  shape: z.string(),
  position: z.string(),
  background: z.string(),
});

/** Set on a model made from another by an unlearning method (training/memlab/unlearn). */
const variantInfo = z.object({
  of: z.string(),
  method: z.string(),
  forgotten: z.array(z.string()),
  stage: z.number().int().positive().optional(),
  costSeconds: z.number().nonnegative(),
  cpuSeconds: z.number().nonnegative().optional(),
  threads: z.number().int().positive().optional(),
  steps: z.number().int().nonnegative(),
});

/** A mask preset shipped with the model (UniForget), a JSON file under presets/. */
const presetEntry = z.object({
  id: z.string(),
  method: z.string(),
  beta: z.number().optional(),
  fractionPruned: z.number().min(0).max(1),
  path: z.string().regex(/^presets\/[\w.-]+\.json$/, 'a JSON file in the presets/ folder'),
  bytes: z.number().int().positive(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});

export const manifestSchema = z.object({
  format: z.literal(1),
  id: z.string().regex(/^[a-z0-9-]+$/),
  version: z.string(),
  description: z.string(),
  trainingSteps: z.number().int().nonnegative(),
  parameters: z.object({ textEncoder: z.number().int(), unet: z.number().int() }),
  image: z.object({
    width: z.number().int().positive(),
    height: z.number().int().positive(),
    channels: z.literal(3),
    range: z.tuple([z.number(), z.number()]),
  }),
  schedule: z.object({
    kind: z.literal('linear'),
    betaStart: z.number().positive(),
    betaEnd: z.number().positive(),
    trainSteps: z.number().int().positive(),
    prediction: z.literal('epsilon'),
    spacing: z.literal('trailing'),
    clipSample: z.boolean(),
    // diffusers' use_clipped_model_output: after clipping x0, recompute the noise from it. The
    // organism was trained and verified with it on; a stock DDIM step turns its images to noise.
    useClippedModelOutput: z.boolean(),
  }),
  defaults: z.object({ steps: z.number().int().positive(), guidance: z.number(), seed: z.number().int() }),
  text: z.object({
    vocab: z.array(z.string()).min(4),
    maxTokens: z.number().int().positive(),
    width: z.number().int().positive(),
    padId: z.number().int(),
    bosId: z.number().int(),
    eosId: z.number().int(),
    unkId: z.number().int(),
  }),
  files: z.object({
    textEncoder: fileEntry,
    // fp32: the reference weights (the base model ships them; unlearned variants ship int8 only)
    unet: z.object({ int8: fileEntry, fp32: fileEntry.optional(), fp16: fileEntry.optional() }),
    memorizedImages: fileEntry,
    trainIndex: fileEntry.extend({
      count: z.number().int().positive(),
      thumbSize: z.number().int().positive(),
      memorizedCount: z.number().int().nonnegative(),
    }),
    reference: fileEntry,
    copyDetector: copyDetectorEntry.optional(),
  }),
  unet: z.object({
    inputs: z.object({ sample: z.string(), timestep: z.string(), context: z.string() }),
    noiseOutput: z.string(),
    masks: z.array(
      z.object({
        name: z.string(),
        layers: z.number().int().positive(),
        units: z.number().int().positive(),
        kind: z.string(),
      }),
    ),
    layers: z.array(
      z.object({
        name: z.string(),
        resolution: z.number().int().positive(),
        heads: z.number().int().positive(),
        crossAttentionOutput: z.string(),
      }),
    ),
    valueOutput: z.string(),
  }),
  memorized: z.array(memorizedEntry),
  neutralPrompts: z.array(z.string()),
  neutralObjects: z.array(neutralObject),
  trainPromptsSample: z.array(z.string()),
  palette: z.object({
    colours: z.record(z.string(), rgb),
    backgrounds: z.record(z.string(), rgb),
    shapes: z.array(z.string()),
    sizes: z.record(z.string(), z.number()),
    positions: z.record(z.string(), z.tuple([z.number(), z.number()])),
  }),
  variant: variantInfo.optional(),
  presets: z.array(presetEntry).optional(),
});

export type Manifest = z.infer<typeof manifestSchema>;
export type MaskSpec = Manifest['unet']['masks'][number];
export type LayerSpec = Manifest['unet']['layers'][number];
export type VariantInfo = z.infer<typeof variantInfo>;
export type PresetEntry = z.infer<typeof presetEntry>;
export type CopyDetectorEntry = z.infer<typeof copyDetectorEntry>;

export type ManifestResult = { ok: true; manifest: Manifest } | { ok: false; problems: string[] };

/** Validate untrusted JSON as a manifest; on failure, one readable line per problem. */
export function parseManifest(json: unknown): ManifestResult {
  const parsed = manifestSchema.safeParse(json);
  if (parsed.success) return { ok: true, manifest: parsed.data };
  return {
    ok: false,
    problems: parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`),
  };
}

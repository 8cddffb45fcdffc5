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

/** A mask preset shipped with the model (UniForget's, the universal mask), a JSON file under presets/. */
const presetEntry = z.object({
  id: z.string(),
  method: z.string(),
  beta: z.number().optional(),
  fractionPruned: z.number().min(0).max(1),
  /** a universal mask: the share of its unit kind it prunes, and the kind */
  sparsity: z.number().min(0).max(1).optional(),
  unitKind: z.enum(['heads', 'neurons']).optional(),
  path: z.string().regex(/^presets\/[\w.-]+\.json$/, 'a JSON file in the presets/ folder'),
  bytes: z.number().int().positive(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});

/**
 * Set on a latent (Stable-Diffusion-family) model loaded from a diffusers ONNX folder: where it came
 * from, what the lab found in it, and what its pipeline needs beyond the shared fields. Plain data,
 * so it travels from the worker to the page; the tokenizer and sessions stay in the worker.
 */
const latentInfo = z.object({
  source: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('url'), baseUrl: z.string() }),
    z.object({ kind: z.literal('disk'), folder: z.string() }),
  ]),
  /** sha256 of unet/model.onnx as found: names the model in links, whatever folder or host it came from */
  unetSha256: z.string().regex(/^[0-9a-f]{64}$/),
  pipelineClass: z.string(),
  scheduler: z.object({ className: z.string(), prediction: z.string() }),
  shape: z.object({
    channels: z.number().int().positive(),
    height: z.number().int().positive(),
    width: z.number().int().positive(),
  }),
  vae: z.object({ scaleFactor: z.number().int().positive(), scalingFactor: z.number().positive() }),
  dtype: z.string(),
  /** the attention form the instrumenter recognised, in words */
  graphForm: z.string(),
  /** bytes read for the three graphs and their weights */
  bytes: z.number().nonnegative(),
  selfAttentionBlocks: z.number().int().nonnegative(),
  /** per cross-attention block (manifest.unet.layers order): module path and value width */
  crossAttention: z.array(
    z.object({
      module: z.string(),
      valueWidth: z.number().int().positive(),
      blockResolution: z.number().int().positive(),
    }),
  ),
  /** defaults that stood in for missing optional files, and the instrumenter's warnings, in words */
  notes: z.array(z.string()),
});

function missingOrganismPartsOf(m: { text: { vocab?: unknown; unkId?: unknown } } & Record<string, unknown>): string[] {
  const missing: string[] = ['schedule', 'files', 'palette', 'trainingSteps', 'parameters'].filter(
    (k) => m[k] === undefined,
  );
  if (m.text.vocab === undefined) missing.push('text.vocab');
  if (m.text.unkId === undefined) missing.push('text.unkId');
  return missing;
}

export const manifestSchema = z
  .object({
    format: z.literal(1),
    id: z.string().regex(/^[a-z0-9-]+$/),
    version: z.string(),
    description: z.string(),
    // Organism-only: a model loaded from a diffusers folder has no training record here.
    trainingSteps: z.number().int().nonnegative().optional(),
    parameters: z.object({ textEncoder: z.number().int(), unet: z.number().int() }).optional(),
    image: z.object({
      width: z.number().int().positive(),
      height: z.number().int().positive(),
      channels: z.literal(3),
      range: z.tuple([z.number(), z.number()]),
    }),
    schedule: z
      .object({
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
      })
      // The organism's own DDIM schedule; a latent model's scheduler is in `latent.scheduler`.
      .optional(),
    defaults: z.object({ steps: z.number().int().positive(), guidance: z.number(), seed: z.number().int() }),
    text: z.object({
      // The organism's closed vocabulary; a latent model tokenizes with its CLIP BPE files instead.
      vocab: z.array(z.string()).min(4).optional(),
      maxTokens: z.number().int().positive(),
      width: z.number().int().positive(),
      padId: z.number().int(),
      bosId: z.number().int(),
      eosId: z.number().int(),
      unkId: z.number().int().optional(),
    }),
    files: z
      .object({
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
      })
      // Organism-only: a latent model's files are its diffusers folder (`latent.source`).
      .optional(),
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
    // The organism's planted ground truth; empty for a model whose memorized set the lab cannot know.
    memorized: z.array(memorizedEntry).default([]),
    neutralPrompts: z.array(z.string()).default([]),
    neutralObjects: z.array(neutralObject).default([]),
    trainPromptsSample: z.array(z.string()).default([]),
    palette: z
      .object({
        colours: z.record(z.string(), rgb),
        backgrounds: z.record(z.string(), rgb),
        shapes: z.array(z.string()),
        sizes: z.record(z.string(), z.number()),
        positions: z.record(z.string(), z.tuple([z.number(), z.number()])),
      })
      .optional(),
    variant: variantInfo.optional(),
    presets: z.array(presetEntry).optional(),
    latent: latentInfo.optional(),
  })
  .superRefine((m, ctx) => {
    if (m.latent) return;
    for (const path of missingOrganismPartsOf(m))
      ctx.addIssue({ code: 'custom', path: path.split('.'), message: 'required for a model without a latent section' });
  });

export type Manifest = z.infer<typeof manifestSchema>;

/** A manifest with the organism's own parts, which code written for the organism alone relies on. */
export type OrganismManifest = Manifest & {
  schedule: NonNullable<Manifest['schedule']>;
  files: NonNullable<Manifest['files']>;
  palette: NonNullable<Manifest['palette']>;
  trainingSteps: number;
  parameters: NonNullable<Manifest['parameters']>;
  text: Manifest['text'] & { vocab: string[]; unkId: number };
};

export const isLatentModel = (m: Manifest): boolean => m.latent !== undefined;

/**
 * The manifest as the organism's: for the code paths that only the organism has (its DDIM
 * schedule, closed vocabulary, training index, palette). A latent model reaching one is a bug in
 * the caller's routing, so this throws with the part that was missing.
 */
export function organism(m: Manifest): OrganismManifest {
  const missing = missingOrganismPartsOf(m);
  if (missing.length) throw new Error(`${m.id} is not a model organism: it has no ${missing.join(', ')}`);
  return m as OrganismManifest;
}
export type MaskSpec = Manifest['unet']['masks'][number];
export type LayerSpec = Manifest['unet']['layers'][number];
export type VariantInfo = z.infer<typeof variantInfo>;
export type PresetEntry = z.infer<typeof presetEntry>;
export type CopyDetectorEntry = z.infer<typeof copyDetectorEntry>;
export type LatentInfo = z.infer<typeof latentInfo>;

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

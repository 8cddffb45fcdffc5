/**
 * The lab's manifest for a model loaded from a diffusers ONNX folder, built from what the folder
 * says (configs, tokenizer, scheduler) and what the instrumenter found in its UNet graph. The shared
 * fields (image, text, defaults, unet) read like the organism's, so the views, the URL codec and the
 * pruning grid work on it unchanged; the `latent` section carries the rest.
 */
import { type LatentInfo, type Manifest, manifestSchema } from '../manifest';
import type { LabUNetDescription } from '../onnx/description';
import type { LatentModel } from './folder';

export interface LatentManifestInput {
  model: LatentModel;
  unet: LabUNetDescription;
  source: LatentInfo['source'];
  unetSha256: string;
  /** bytes of the three graphs and their weight files */
  bytes: number;
}

const FORMS: Record<string, string> = {
  plain: 'plain export',
  'fused-attention': 'onnxruntime-fused (Attention)',
  'fused-mha': 'onnxruntime-fused (MultiHeadAttention)',
  'fused-mha-packed-qkv': 'onnxruntime-fused (packed QKV)',
  'fused-mha-packed-kv': 'onnxruntime-fused (packed KV)',
};

function graphForm(unet: LabUNetDescription): string {
  const forms = [...new Set([...unet.crossAttention, ...unet.selfAttention].map((b) => b.form))];
  return forms.map((f) => FORMS[f] ?? f).join(' + ') || 'no attention';
}

/** Prompts that name no memorized work: the neutral set detection compares against by default. */
const NEUTRAL_PROMPTS = [
  'a photo of a dog sitting on a wooden floor',
  'a bowl of fruit on a kitchen table',
  'a red bicycle leaning against a brick wall',
  'a mountain lake at sunrise',
  'a cup of coffee next to an open book',
  'a city street in the rain at night',
  'a small boat on a calm sea',
  'a vase of sunflowers by a window',
];

/** Distilled models (SD-Turbo and kin) are trained for very few steps without guidance. */
function defaultsFor(model: LatentModel): Manifest['defaults'] {
  const config = model.schedulerConfig;
  const trailing = config.timestep_spacing === 'trailing';
  return trailing && model.schedulerClass.startsWith('Euler')
    ? { steps: 4, guidance: 0, seed: 1 }
    : { steps: 25, guidance: 7.5, seed: 1 };
}

export function latentManifest(input: LatentManifestInput): Manifest {
  const { model, unet, source } = input;
  const tokenizer = model.tokenizer;
  const scale = model.vae.scaleFactor;
  const contextWidth = unet.graph.contextWidth ?? model.textWidth;
  if (!contextWidth)
    throw new Error('the text embedding width is unknown (no text encoder config and none in the UNet graph)');
  const name = source.kind === 'url' ? source.baseUrl : source.folder;
  const json = {
    format: 1,
    id: `sd-${input.unetSha256.slice(0, 12)}`,
    version: input.unetSha256.slice(0, 16),
    description: `${model.pipelineClass} from ${name}`,
    image: { width: model.latent.width * scale, height: model.latent.height * scale, channels: 3, range: [-1, 1] },
    defaults: defaultsFor(model),
    text: {
      maxTokens: tokenizer.maxLength,
      width: contextWidth,
      padId: tokenizer.padId,
      bosId: tokenizer.bosId,
      eosId: tokenizer.eosId,
    },
    unet: {
      inputs: unet.inputs,
      noiseOutput: unet.noiseOutput,
      masks: unet.masks,
      layers: unet.layers,
      valueOutput: unet.valueOutput,
    },
    neutralPrompts: NEUTRAL_PROMPTS,
    latent: {
      source,
      unetSha256: input.unetSha256,
      pipelineClass: model.pipelineClass,
      scheduler: {
        className: model.schedulerClass,
        prediction: String(model.schedulerConfig.prediction_type ?? 'epsilon'),
      },
      shape: model.latent,
      vae: model.vae,
      dtype: unet.graph.dtype,
      graphForm: graphForm(unet),
      bytes: input.bytes,
      selfAttentionBlocks: unet.selfAttention.length,
      crossAttention: unet.crossAttention.map((b) => ({
        module: b.module,
        valueWidth: b.valueWidth,
        blockResolution: b.blockResolution,
      })),
      notes: [...model.assumptions, ...unet.warnings],
    },
  } satisfies Record<string, unknown>;
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) throw new Error(`internal: the latent manifest does not validate: ${parsed.error.message}`);
  return parsed.data;
}

/**
 * The diffusers ONNX folder layout (what diffusers' conversion script, optimum and Olive write):
 * which files a Stable-Diffusion-family pipeline needs, checked before anything is downloaded so a
 * wrong folder is named in one sentence instead of failing deep inside a model session.
 *
 *   model_index.json                    pipeline index (optional here: some exports omit it)
 *   text_encoder/model.onnx             CLIP text model
 *   unet/model.onnx (+ weight files)    the denoiser; big exports keep weights in a side file
 *   vae_decoder/model.onnx              latent -> image
 *   tokenizer/vocab.json + merges.txt   CLIP BPE (or tokenizer/tokenizer.json)
 *   scheduler/scheduler_config.json     noise schedule and sampler
 *   <part>/config.json                  optional: head counts, scaling factor, sample size
 */

export interface DiffusersLayout {
  modelIndex: string | null;
  textEncoder: string;
  unet: string;
  vaeDecoder: string;
  tokenizer:
    | { kind: 'vocab-merges'; vocab: string; merges: string; config: string | null }
    | { kind: 'json'; json: string; config: string | null };
  schedulerConfig: string;
  configs: { unet: string | null; vaeDecoder: string | null; textEncoder: string | null };
}

/** One thing wrong with a folder: a sentence for anyone, and what exactly was looked for. */
export interface LayoutProblem {
  message: string;
  detail: string;
}

export type LayoutResult = { ok: true; layout: DiffusersLayout } | { ok: false; problems: LayoutProblem[] };

export const LAYOUT_PATHS = {
  modelIndex: 'model_index.json',
  textEncoder: 'text_encoder/model.onnx',
  unet: 'unet/model.onnx',
  vaeDecoder: 'vae_decoder/model.onnx',
  vocab: 'tokenizer/vocab.json',
  merges: 'tokenizer/merges.txt',
  tokenizerJson: 'tokenizer/tokenizer.json',
  tokenizerConfig: 'tokenizer/tokenizer_config.json',
  schedulerConfig: 'scheduler/scheduler_config.json',
  unetConfig: 'unet/config.json',
  vaeDecoderConfig: 'vae_decoder/config.json',
  textEncoderConfig: 'text_encoder/config.json',
} as const;

const PARTS: { path: string; what: string }[] = [
  { path: LAYOUT_PATHS.textEncoder, what: 'text encoder' },
  { path: LAYOUT_PATHS.unet, what: 'UNet (the denoising network)' },
  { path: LAYOUT_PATHS.vaeDecoder, what: 'image decoder (VAE decoder)' },
  { path: LAYOUT_PATHS.schedulerConfig, what: 'noise scheduler settings' },
];

/**
 * Checks which layout files a folder has. `has` answers for one relative path (a picked file list,
 * or a HEAD request against a URL); every check runs at once so a remote folder costs one round trip.
 */
export async function inspectLayout(has: (path: string) => Promise<boolean>): Promise<LayoutResult> {
  const names: string[] = Object.values(LAYOUT_PATHS);
  const present = new Map<string, boolean>(
    await Promise.all(names.map(async (p) => [p, await has(p).catch(() => false)] as const)),
  );
  const problems: LayoutProblem[] = [];
  for (const part of PARTS) {
    if (!present.get(part.path)) {
      problems.push({ message: `The folder has no ${part.what}.`, detail: `missing ${part.path}` });
    }
  }
  const vocabMerges = present.get(LAYOUT_PATHS.vocab) && present.get(LAYOUT_PATHS.merges);
  const json = present.get(LAYOUT_PATHS.tokenizerJson);
  if (!vocabMerges && !json) {
    problems.push({
      message: 'The folder has no tokenizer, so the lab cannot turn a prompt into tokens.',
      detail: `missing ${LAYOUT_PATHS.vocab} + ${LAYOUT_PATHS.merges}, or ${LAYOUT_PATHS.tokenizerJson}`,
    });
  }
  if (problems.length) {
    if (problems.length === PARTS.length + 1) {
      return {
        ok: false,
        problems: [
          {
            message:
              'This folder is not a Stable Diffusion model in the diffusers ONNX layout (text_encoder, unet, vae_decoder, tokenizer and scheduler folders).',
            detail: problems.map((p) => p.detail).join('; '),
          },
        ],
      };
    }
    return { ok: false, problems };
  }
  const optional = (p: string) => (present.get(p) ? p : null);
  const config = optional(LAYOUT_PATHS.tokenizerConfig);
  return {
    ok: true,
    layout: {
      modelIndex: optional(LAYOUT_PATHS.modelIndex),
      textEncoder: LAYOUT_PATHS.textEncoder,
      unet: LAYOUT_PATHS.unet,
      vaeDecoder: LAYOUT_PATHS.vaeDecoder,
      // The vocab + merges pair is what SD repositories ship; tokenizer.json is taken when it is alone.
      tokenizer: vocabMerges
        ? { kind: 'vocab-merges', vocab: LAYOUT_PATHS.vocab, merges: LAYOUT_PATHS.merges, config }
        : { kind: 'json', json: LAYOUT_PATHS.tokenizerJson, config },
      schedulerConfig: LAYOUT_PATHS.schedulerConfig,
      configs: {
        unet: optional(LAYOUT_PATHS.unetConfig),
        vaeDecoder: optional(LAYOUT_PATHS.vaeDecoderConfig),
        textEncoder: optional(LAYOUT_PATHS.textEncoderConfig),
      },
    },
  };
}

/** Where an ONNX graph's external weights live, relative to the folder (initializer locations are
 * relative to the graph's own directory). Refuses locations that leave the folder. */
export function externalDataPath(graphPath: string, location: string): string | null {
  const dir = graphPath.includes('/') ? graphPath.slice(0, graphPath.lastIndexOf('/') + 1) : '';
  const parts: string[] = [];
  for (const part of (dir + location.replace(/\\/g, '/')).split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (!parts.length) return null;
      parts.pop();
    } else parts.push(part);
  }
  return parts.join('/');
}

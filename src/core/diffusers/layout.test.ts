import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { externalDataPath, inspectLayout, LAYOUT_PATHS } from './layout';

const FIXTURE = join(process.cwd(), '../shared/fixtures/tiny-sd1');
const onDisk = (root: string) => async (path: string) => existsSync(join(root, path));
const without =
  (root: string, ...gone: string[]) =>
  async (path: string) =>
    !gone.includes(path) && existsSync(join(root, path));

describe('inspectLayout', () => {
  it('finds every part of a real diffusers ONNX export', async () => {
    const result = await inspectLayout(onDisk(FIXTURE));
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.layout.tokenizer).toMatchObject({ kind: 'vocab-merges', vocab: LAYOUT_PATHS.vocab });
    expect(result.layout.modelIndex).toBe('model_index.json');
    expect(result.layout.configs.unet).toBe('unet/config.json');
  });

  it('names the missing tokenizer in words', async () => {
    const result = await inspectLayout(without(FIXTURE, LAYOUT_PATHS.vocab));
    expect(result).toEqual({
      ok: false,
      problems: [
        {
          message: 'The folder has no tokenizer, so the lab cannot turn a prompt into tokens.',
          detail: expect.stringContaining('tokenizer/vocab.json'),
        },
      ],
    });
  });

  it('takes tokenizer.json when vocab and merges are absent', async () => {
    const only = new Set<string>([...Object.values(LAYOUT_PATHS)].filter((p) => !p.startsWith('tokenizer/vocab')));
    const result = await inspectLayout(async (p) => only.has(p) && p !== LAYOUT_PATHS.merges);
    expect(result.ok && result.layout.tokenizer.kind).toBe('json');
  });

  it('says plainly when the folder is not a diffusers export at all', async () => {
    const result = await inspectLayout(onDisk(join(process.cwd(), 'public/models/memlab-organism')));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0].message).toMatch(/not a Stable Diffusion model in the diffusers ONNX layout/);
  });

  it('lists each missing part when only some are missing', async () => {
    const result = await inspectLayout(without(FIXTURE, LAYOUT_PATHS.unet, LAYOUT_PATHS.schedulerConfig));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems.map((p) => p.message)).toEqual([
      'The folder has no UNet (the denoising network).',
      'The folder has no noise scheduler settings.',
    ]);
  });
});

describe('externalDataPath', () => {
  it('resolves a weight file beside its graph', () => {
    expect(externalDataPath('unet/model.onnx', 'weights.pb')).toBe('unet/weights.pb');
    expect(externalDataPath('unet/model.onnx', './model.onnx_data')).toBe('unet/model.onnx_data');
  });
  it('refuses locations outside the folder', () => {
    expect(externalDataPath('unet/model.onnx', '../../etc/passwd')).toBeNull();
    expect(externalDataPath('unet/model.onnx', '../text_encoder/w.pb')).toBe('text_encoder/w.pb');
  });
});

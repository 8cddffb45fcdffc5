import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { labUNetSchema } from '../core/onnx/description';
import { runCli } from './cli-testing';
import { InstrumentFolderError, instrumentFolder, LAB_DESCRIPTION_FILE, parseInstrumentArgs } from './instrument';
import { floats, maxAbsDiff, SD1, SD2, scratchDir, unetFeeds } from './onnx-testing';
import { UsageError } from './options';

/** True when /dev/shm is a filesystem apart from the fixtures' (hard links cannot cross it). */
function crossDevice(): boolean {
  return existsSync('/dev/shm') && statSync('/dev/shm').dev !== statSync(SD2).dev;
}
const scratch = scratchDir('memlab-instrument-cli-');
afterAll(() => scratch.dispose());

const cli = (...args: string[]) => runCli('src/node/instrument.ts', args);

describe('parseInstrumentArgs', () => {
  it('reads the folders and the map limit', () => {
    expect(parseInstrumentArgs(['--in', 'a', '--out', 'b'])).toEqual({
      in: 'a',
      out: 'b',
      attentionMapLimit: 16,
      sampleSize: undefined,
      copyWeights: false,
      masksOnly: false,
    });
    expect(
      parseInstrumentArgs(['--in', 'a', '--out', 'b', '--attention-map-limit', '8', '--sample-size', '64']),
    ).toMatchObject({ attentionMapLimit: 8, sampleSize: 64 });
  });

  it('refuses missing folders, the same folder twice and bad numbers', () => {
    expect(() => parseInstrumentArgs(['--out', 'b'])).toThrow(UsageError);
    expect(() => parseInstrumentArgs(['--in', 'a'])).toThrow(/--out is required/);
    expect(() => parseInstrumentArgs(['--in', 'a', '--out', './a'])).toThrow(/new folder/);
    expect(() => parseInstrumentArgs(['--in', 'a', '--out', 'b', '--attention-map-limit', '0'])).toThrow(
      /integer >= 1/,
    );
  });
});

describe('instrumentFolder', () => {
  it('writes a complete diffusers folder whose UNet runs from there, weights hard-linked not copied', async () => {
    const out = join(scratch.path, 'sd1');
    const sameDevice = statSync(scratch.path).dev === statSync(SD1).dev;
    const r = await instrumentFolder({ in: SD1, out, attentionMapLimit: 16, copyWeights: !sameDevice });
    const d = labUNetSchema.parse(JSON.parse(readFileSync(join(out, 'unet', LAB_DESCRIPTION_FILE), 'utf8')));
    expect(d).toEqual(r.description);
    for (const part of [
      'model_index.json',
      'text_encoder/model.onnx',
      'tokenizer/vocab.json',
      'vae_decoder/model.onnx',
    ])
      expect(statSync(join(out, part)).isFile()).toBe(true);
    const weights = r.files.find((f) => f.path === 'unet/weights.pb');
    expect(weights?.placement).toBe(sameDevice ? 'linked' : 'copied');
    if (sameDevice) expect(statSync(join(out, 'unet/weights.pb')).ino).toBe(statSync(join(SD1, 'unet/weights.pb')).ino);
    // the fused variants and the reference traces are not pipeline parts
    expect(r.files.some((f) => f.path.startsWith('unet-fused') || f.path.startsWith('reference'))).toBe(false);

    const options = { graphOptimizationLevel: 'basic' as const, intraOpNumThreads: 2 };
    const [original, instrumented] = [
      await ort.InferenceSession.create(join(SD1, 'unet/model.onnx'), options),
      await ort.InferenceSession.create(join(out, 'unet/model.onnx'), options),
    ];
    const feeds = unetFeeds({ batch: 1, channels: 4, size: 16, tokens: 77, width: 32, half: false }, 9);
    const masks = Object.fromEntries(
      d.masks.map((m) => [
        m.name,
        new ort.Tensor('float32', new Float32Array(m.layers * m.units).fill(1), [1, m.layers, m.units]),
      ]),
    );
    const a = floats((await original.run(feeds)).out_sample);
    const b = floats((await instrumented.run({ ...feeds, ...masks }, [d.noiseOutput])).out_sample);
    expect(maxAbsDiff(a, b)).toBeLessThanOrEqual(1e-5);
  });

  it('takes a UNet folder on its own, external data named model.onnx_data', async () => {
    const out = join(scratch.path, 'sd2-unet');
    const r = await instrumentFolder({ in: join(SD2, 'unet'), out, attentionMapLimit: 8, copyWeights: true });
    expect(r.files.map((f) => f.path).sort()).toEqual(['config.json', 'model.onnx_data']);
    expect(r.description.layers[0]).toMatchObject({ name: 'down_blocks.0/attentions.0', resolution: 8, heads: 2 });
  });

  it.skipIf(!crossDevice())('refuses to copy weights to another filesystem unless told to', async () => {
    const other = mkdtempSync(join('/dev/shm', 'memlab-instrument-'));
    try {
      const args = { in: join(SD2, 'unet'), out: join(other, 'unet'), attentionMapLimit: 16 };
      await expect(instrumentFolder(args)).rejects.toThrow(/cannot hard-link .*--copy-weights/);
      const r = await instrumentFolder({ ...args, copyWeights: true });
      expect(r.files.find((f) => f.path === 'model.onnx_data')?.placement).toBe('copied');
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('names a missing weight file', async () => {
    const dir = join(scratch.path, 'no-weights/unet');
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(SD1, 'unet/model.onnx'), join(dir, 'model.onnx'));
    copyFileSync(join(SD1, 'unet/config.json'), join(dir, 'config.json'));
    await expect(
      instrumentFolder({ in: join(scratch.path, 'no-weights'), out: join(scratch.path, 'x'), attentionMapLimit: 16 }),
    ).rejects.toThrow(/weight file weights.pb is missing/);
  });

  it('says when there is no UNet at all', async () => {
    await expect(
      instrumentFolder({ in: join(SD1, 'tokenizer'), out: join(scratch.path, 'y'), attentionMapLimit: 16 }),
    ).rejects.toThrow(InstrumentFolderError);
  });
});

describe('npm run instrument', () => {
  it('prints what it found, and a plain message with details and exit code 1 for a damaged graph', async () => {
    const ok = await cli('--in', SD2, '--out', join(scratch.path, 'cli-sd2'), '--copy-weights');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/cross-attention blocks: 7/);
    expect(ok.stdout).toMatch(/mid_block\/attentions\.0\s+8 heads x 4, 4x4/);

    const dir = join(scratch.path, 'truncated/unet');
    mkdirSync(dir, { recursive: true });
    const bytes = readFileSync(join(SD1, 'unet/model.onnx'));
    writeFileSync(join(dir, 'model.onnx'), bytes.subarray(0, 100_000));
    const bad = await cli('--in', join(scratch.path, 'truncated'), '--out', join(scratch.path, 'z'));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/error: The UNet file is damaged or incomplete/);
    expect(bad.stderr).toMatch(/details: 100000 bytes; protobuf decoding failed/);

    const usage = await cli('--in', SD1);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/usage: npm run instrument/);
  });
});

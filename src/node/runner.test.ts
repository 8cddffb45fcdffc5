import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allOnes, maskSetFromPruned, stackMaskSets } from '../core/masks';
import { type NodeModel, loadNodeModel } from './runner';

const DIR = 'public/models/fixture-random';
const reference = JSON.parse(readFileSync(join(DIR, 'reference.json'), 'utf8')) as {
  input_ids: number[];
  last_hidden_state_first8: number[];
  sample: number[];
  timestep: number;
  noise_pred: number[];
  noise_pred_cross_head_0_0_ablated: number[];
};

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

/** The reference input through the text encoder and the UNet (batch 1) with the given masks. */
async function referenceNoise(model: NodeModel, masks = allOnes(model.manifest)): Promise<Float32Array> {
  const context = await model.runner.encodeText([reference.input_ids]);
  const out = await model.runner.runUNet(
    {
      batch: 1,
      sample: Float32Array.from(reference.sample),
      timestep: Float32Array.of(reference.timestep),
      context,
      masks: stackMaskSets(model.manifest, [masks]),
    },
    { attention: true, values: true },
  );
  return out.noise;
}

describe('onnxruntime-node runner on the fixture model, against the torch reference', () => {
  let fp32: NodeModel;
  let int8: NodeModel;
  beforeAll(async () => {
    [fp32, int8] = await Promise.all([
      loadNodeModel(DIR, { precision: 'fp32', threads: 1 }),
      loadNodeModel(DIR, { threads: 1 }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([fp32.release(), int8.release()]);
  });

  it('loads int8 by default', () => {
    expect(int8.precision).toBe('int8');
    expect(fp32.precision).toBe('fp32');
  });

  it('text encoder matches torch within 1e-4', async () => {
    const hidden = await fp32.runner.encodeText([reference.input_ids]);
    const m = fp32.manifest.text;
    expect(hidden.length).toBe(m.maxTokens * m.width);
    expect(maxAbsDiff(hidden.subarray(0, 8), reference.last_hidden_state_first8)).toBeLessThan(1e-4);
  });

  it('fp32 UNet with all-ones masks reproduces the unmasked torch model within 1e-4', async () => {
    expect(maxAbsDiff(await referenceNoise(fp32), reference.noise_pred)).toBeLessThan(1e-4);
  });

  it('int8 UNet stays within 5e-2 of torch', async () => {
    expect(maxAbsDiff(await referenceNoise(int8), reference.noise_pred)).toBeLessThan(5e-2);
  });

  it('zeroing cross-attention head 0 of layer 0 matches torch ablation and changes the output', async () => {
    const ablatedMasks = maskSetFromPruned(fp32.manifest, [{ mask: 'cross_attn_head_mask', layer: 0, unit: 0 }]);
    const ablated = await referenceNoise(fp32, ablatedMasks);
    expect(maxAbsDiff(ablated, reference.noise_pred_cross_head_0_0_ablated)).toBeLessThan(1e-4);
    // the ablation must be visible well above the tolerance, or this test could not tell them apart
    expect(maxAbsDiff(ablated, reference.noise_pred)).toBeGreaterThan(1e-2);
  });

  it('returns cross-attention probabilities that sum to 1 over tokens, and value activations', async () => {
    const { manifest, runner } = fp32;
    const context = await runner.encodeText([reference.input_ids, reference.input_ids]);
    const out = await runner.runUNet(
      {
        batch: 2,
        sample: Float32Array.from([...reference.sample, ...reference.sample]),
        timestep: Float32Array.of(reference.timestep, reference.timestep),
        context,
        masks: stackMaskSets(manifest, [allOnes(manifest)], 2),
      },
      { attention: true, values: true },
    );
    const T = manifest.text.maxTokens;
    manifest.unet.layers.forEach((layer, l) => {
      const probs = out.crossAttention![l];
      expect(probs.length).toBe(2 * layer.heads * layer.resolution ** 2 * T);
      for (let row = 0; row < probs.length / T; row += 97) {
        let sum = 0;
        for (let t = 0; t < T; t++) sum += probs[row * T + t];
        expect(sum).toBeCloseTo(1, 5);
      }
    });
    expect(out.values!.length).toBe(2 * manifest.unet.layers.length * T * manifest.unet.masks[2].units);
  });
});

describe('loading a model directory', () => {
  let scratch: string;
  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), 'memlab-model-'));
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  const copyFixture = (name: string) => {
    const dir = join(scratch, name);
    cpSync(DIR, dir, { recursive: true });
    return dir;
  };

  it('names the directory when there is no manifest', async () => {
    await expect(loadNodeModel(join(scratch, 'nothing-here'))).rejects.toThrow(/no model at .*nothing-here/);
  });

  it('reports invalid JSON and schema problems in the manifest', async () => {
    const broken = copyFixture('broken-json');
    writeFileSync(join(broken, 'manifest.json'), '{ "format": 1,');
    await expect(loadNodeModel(broken)).rejects.toThrow(/not valid JSON/);
    const wrong = copyFixture('wrong-schema');
    const manifest = JSON.parse(readFileSync(join(DIR, 'manifest.json'), 'utf8'));
    delete manifest.schedule;
    writeFileSync(join(wrong, 'manifest.json'), JSON.stringify(manifest));
    await expect(loadNodeModel(wrong)).rejects.toThrow(/schedule/);
  });

  it('refuses a truncated or altered model file', async () => {
    const truncated = copyFixture('truncated');
    const bytes = readFileSync(join(DIR, 'unet.int8.onnx'));
    writeFileSync(join(truncated, 'unet.int8.onnx'), bytes.subarray(0, 1000));
    await expect(loadNodeModel(truncated)).rejects.toThrow(/unet\.int8\.onnx has 1000 bytes/);
    const altered = copyFixture('altered');
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 1] ^= 0xff;
    writeFileSync(join(altered, 'unet.int8.onnx'), flipped);
    await expect(loadNodeModel(altered)).rejects.toThrow(/sha256/);
  });

  it('refuses a missing model file', async () => {
    const missing = copyFixture('missing');
    rmSync(join(missing, 'text_encoder.onnx'));
    await expect(loadNodeModel(missing)).rejects.toThrow(/text_encoder\.onnx is missing/);
  });
});

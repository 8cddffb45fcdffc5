import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { readJson, SD1, UNET_GRAPHS, type UNetGraphName } from '../../node/onnx-testing';
import { type DiffusersUNetConfig, analyzeUNet } from './analyze';
import { UnsupportedModelError } from './errors';
import { instrumentModel, readModel } from './instrument';
import { DataType, encodeModel, type ModelProto } from './proto';

interface ExpectedBlock {
  name: string;
  heads: number;
  resolution: number;
}

/**
 * The attention blocks diffusers' UNet2DConditionModel builds from its config, in forward order:
 * written from diffusers' semantics (attention_head_dim is the head count per down block, up blocks
 * take the reversed list, the mid block the last entry; each non-final down block halves the grid),
 * independently of the graph analysis under test.
 */
function blocksFromConfig(config: DiffusersUNetConfig & Record<string, unknown>): ExpectedBlock[] {
  const down = config.down_block_types as string[];
  const up = config.up_block_types as string[];
  const layers = config.layers_per_block as number;
  const n = down.length;
  const size = config.sample_size as number;
  const list = (config.num_attention_heads ?? config.attention_head_dim) as number | number[];
  const heads = Array.isArray(list) ? list : down.map(() => list);
  const out: ExpectedBlock[] = [];
  down.forEach((type, i) => {
    if (!type.startsWith('CrossAttn')) return;
    for (let j = 0; j < layers; j++)
      out.push({ name: `down_blocks.${i}/attentions.${j}`, heads: heads[i], resolution: size / 2 ** i });
  });
  out.push({ name: 'mid_block/attentions.0', heads: heads[n - 1], resolution: size / 2 ** (n - 1) });
  const reversed = [...heads].reverse();
  up.forEach((type, i) => {
    if (!type.startsWith('CrossAttn')) return;
    for (let j = 0; j <= layers; j++)
      out.push({ name: `up_blocks.${i}/attentions.${j}`, heads: reversed[i], resolution: size / 2 ** (n - 1 - i) });
  });
  return out;
}

function load(name: UNetGraphName): { model: ModelProto; config: DiffusersUNetConfig & Record<string, unknown> } {
  const g = UNET_GRAPHS[name];
  return { model: readModel(readFileSync(join(g.dir, 'model.onnx'))), config: readJson(g.config) };
}

function refusal(fn: () => unknown): UnsupportedModelError {
  try {
    fn();
  } catch (e) {
    if (e instanceof UnsupportedModelError) return e;
    throw e;
  }
  throw new Error('expected the model to be refused');
}

const FORMS: Record<UNetGraphName, { cross: string; self: string }> = {
  'tiny-sd1 plain': { cross: 'plain', self: 'plain' },
  'tiny-sd1 fused': { cross: 'fused-mha', self: 'fused-attention' },
  'tiny-sd1 olive-recipe': { cross: 'fused-mha-packed-kv', self: 'fused-mha-packed-qkv' },
  'tiny-sd2 plain': { cross: 'plain', self: 'plain' },
  'tiny-sd2 fused': { cross: 'fused-mha', self: 'fused-attention' },
  'tiny-sd2 fused fp16': { cross: 'fused-mha', self: 'fused-attention' },
};

describe('analyzeUNet finds every attention block', () => {
  it.each(Object.keys(UNET_GRAPHS) as UNetGraphName[])(
    '%s: blocks, head counts and resolutions agree with what diffusers builds from the config',
    (name) => {
      const { model, config } = load(name);
      const a = analyzeUNet(model, { config });
      const expected = blocksFromConfig(config);
      for (const kind of ['cross', 'self'] as const) {
        const blocks = a.blocks.filter((b) => b.kind === kind);
        expect(blocks.map((b) => ({ name: b.name, heads: b.heads, resolution: b.resolution }))).toEqual(expected);
        expect(new Set(blocks.map((b) => b.form))).toEqual(new Set([FORMS[name][kind]]));
        for (const b of blocks) {
          expect(b.module).toBe(`${b.name}/transformer_blocks.0/${kind === 'cross' ? 'attn2' : 'attn1'}`);
          expect(b.heads * b.headSize).toBe(b.width);
        }
      }
      expect(a.warnings).toEqual([]);
      expect(a.dtype).toBe(name.endsWith('fp16') ? 'float16' : 'float32');
    },
  );

  it('reads the head counts from the graph alone (no config), from the query head split or num_heads', () => {
    for (const name of ['tiny-sd1 plain', 'tiny-sd2 plain', 'tiny-sd2 fused'] as const) {
      const { model, config } = load(name);
      const a = analyzeUNet(model, { sampleSize: config.sample_size as number });
      expect(a.sampleSizeFrom).toBe('caller');
      expect(a.blocks.filter((b) => b.kind === 'cross').map((b) => b.heads)).toEqual(
        blocksFromConfig(config).map((b) => b.heads),
      );
      expect(a.blocks.every((b) => b.headsFrom !== 'unet/config.json')).toBe(true);
    }
  });

  it('warns when unet/config.json disagrees with the graph, and keeps the graph', () => {
    const { model, config } = load('tiny-sd2 plain');
    const a = analyzeUNet(model, { config: { ...config, attention_head_dim: [3, 3, 3] } });
    expect(a.warnings.some((w) => /graph has 2 heads, unet\/config.json says 3/.test(w))).toBe(true);
    expect(a.blocks[0].heads).toBe(2);
  });

  it('tells the cross-attention blocks by their keys reading the text input', () => {
    const { model, config } = load('tiny-sd1 plain');
    const a = analyzeUNet(model, { config });
    for (const b of a.blocks) {
      const keyProjection = model.graph?.node.find((n) => n.name === `/${b.module}/to_k/MatMul`);
      expect(keyProjection?.input[0] === 'encoder_hidden_states').toBe(b.kind === 'cross');
    }
  });
});

describe('unusable graphs are refused with a plain-words reason', () => {
  it('a truncated file', () => {
    const bytes = readFileSync(join(SD1, 'unet/model.onnx'));
    const e = refusal(() => readModel(bytes.subarray(0, Math.floor(bytes.length / 2))));
    expect(e.message).toMatch(/damaged or incomplete/);
    expect(e.detail).toMatch(/protobuf decoding failed/);
  });

  it('a file that is not an ONNX model (an HTML error page)', () => {
    const bytes = new TextEncoder().encode('<!doctype html><html><body>404 Not Found</body></html>');
    const e = refusal(() => analyzeUNet(readModel(bytes)));
    expect(e.message).toMatch(/damaged|not a model graph/);
  });

  it('a UNet-shaped graph without attention (and onnxruntime runs it, so it is a real model)', async () => {
    const model: ModelProto = {
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: 'conv-only',
        node: [
          { name: 'conv', opType: 'Conv', input: ['sample', 'w'], output: ['h'], attribute: [] },
          { name: 'time', opType: 'Reshape', input: ['timestep', 'shape'], output: ['t'], attribute: [] },
          { name: 'add', opType: 'Add', input: ['h', 't'], output: ['out_sample'], attribute: [] },
        ],
        initializer: [
          { name: 'w', dataType: DataType.FLOAT, dims: [4, 4, 1, 1], floatData: Array(16).fill(0.5) },
          { name: 'shape', dataType: DataType.INT64, dims: [4], int64Data: [-1, 1, 1, 1] },
        ],
        input: [
          tensorInfo('sample', ['batch', 4, 'height', 'width']),
          tensorInfo('timestep', ['batch']),
          tensorInfo('encoder_hidden_states', ['batch', 77, 32]),
        ],
        output: [tensorInfo('out_sample', ['batch', 4, 'height', 'width'])],
        valueInfo: [],
      },
    };
    const bytes = encodeModel(model);
    const session = await ort.InferenceSession.create(bytes);
    const out = await session.run({
      sample: new ort.Tensor('float32', new Float32Array(4 * 4).fill(1), [1, 4, 2, 2]),
      timestep: new ort.Tensor('float32', Float32Array.from([3]), [1]),
      encoder_hidden_states: new ort.Tensor('float32', new Float32Array(77 * 32), [1, 77, 32]),
    });
    expect((out.out_sample.data as Float32Array)[0]).toBeCloseTo(5);
    const e = refusal(() => analyzeUNet(readModel(bytes), { sampleSize: 2 }));
    expect(e.message).toBe('The lab found no attention layers in this UNet, so there are no heads to show or prune.');
  });

  it('a UNet whose attention never reads the text (self-attention only)', () => {
    const { model, config } = load('tiny-sd1 plain');
    // make every attn2 attend to the image instead of the text: keys and values from its query input
    const nodes = model.graph?.node ?? [];
    for (const n of nodes) {
      const m = /^(.*\/attn2)\/to_[kv]\/MatMul$/.exec(n.name ?? '');
      if (m) n.input[0] = nodes.find((q) => q.name === `${m[1]}/to_q/MatMul`)?.input[0] as string;
    }
    const e = refusal(() => analyzeUNet(model, { config }));
    expect(e.message).toMatch(/no cross-attention/);
  });

  it('a model that is not a UNet (the VAE decoder)', () => {
    const e = refusal(() => analyzeUNet(readModel(readFileSync(join(SD1, 'vae_decoder/model.onnx')))));
    expect(e.message).toMatch(/does not look like a diffusion UNet/);
    expect(e.detail).toMatch(/latent_sample/);
  });

  it('an opset older than 11', () => {
    const { model, config } = load('tiny-sd1 plain');
    model.opsetImport = [{ domain: '', version: 9 }];
    expect(refusal(() => analyzeUNet(model, { config })).message).toMatch(/too old/);
  });

  it('a fused attention operator the lab does not know', () => {
    const { model, config } = load('tiny-sd1 fused');
    const mha = model.graph?.node.find((n) => n.opType === 'MultiHeadAttention');
    if (mha) mha.opType = 'PackedMultiHeadAttention';
    const e = refusal(() => analyzeUNet(model, { config }));
    expect(e.message).toMatch(/form of attention the lab cannot instrument/);
    expect(e.detail).toMatch(/PackedMultiHeadAttention/);
  });

  it('a UNet the lab has already instrumented', () => {
    const { model, config } = load('tiny-sd1 plain');
    instrumentModel(model, { config });
    const e = refusal(() => analyzeUNet(readModel(encodeModel(model)), { config }));
    expect(e.message).toMatch(/already been prepared by the lab/);
  });

  it('a UNet whose latent size nothing gives', () => {
    const { model } = load('tiny-sd1 plain');
    expect(refusal(() => analyzeUNet(model)).message).toMatch(/cannot tell the latent image size/);
  });
});

function tensorInfo(name: string, dims: (string | number)[]) {
  return {
    name,
    type: {
      tensorType: {
        elemType: DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

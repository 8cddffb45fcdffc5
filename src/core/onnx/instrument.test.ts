/**
 * The instrumented graphs in onnxruntime-node, against the original graphs and against an
 * independent edit of them, for every runnable UNet form the fixtures hold.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  floats,
  maxAbsDiff,
  readJson,
  sessionFromChunks,
  UNET_GRAPHS,
  type UNetGraphName,
  unetFeeds,
} from '../../node/onnx-testing';
import { manifestSchema } from '../manifest';
import type { DiffusersUNetConfig } from './analyze';
import type { LabUNetDescription } from './description';
import { type InstrumentedUNet, instrumentUNet, readModel } from './instrument';
import { concatChunks, DataType, encodeModelChunks, type NodeProto } from './proto';

const BATCH = 2;
/** measured numbers, printed at the end for the record */
const measured: Record<string, Record<string, number>> = {};
const note = (graph: string, what: string, value: number) => {
  measured[graph] ??= {};
  measured[graph][what] = value;
};
afterAll(() => console.info(`instrumenter measurements (max abs differences):\n${JSON.stringify(measured, null, 1)}`));

type Masks = Record<string, Float32Array>;

function onesMasks(d: LabUNetDescription): Masks {
  return Object.fromEntries(d.masks.map((m) => [m.name, new Float32Array(BATCH * m.layers * m.units).fill(1)]));
}

/** Sets units [from, to) of `layer` of mask `name` to 0 in the given batch rows. */
function prune(
  d: LabUNetDescription,
  masks: Masks,
  name: string,
  layer: number,
  from: number,
  to: number,
  rows = [0, 1],
) {
  const spec = d.masks.find((m) => m.name === name);
  if (!spec) throw new Error(`no mask ${name}`);
  for (const r of rows)
    masks[name].fill(0, (r * spec.layers + layer) * spec.units + from, (r * spec.layers + layer) * spec.units + to);
  return masks;
}

function maskTensors(d: LabUNetDescription, masks: Masks): Record<string, ort.Tensor> {
  return Object.fromEntries(
    d.masks.map((m) => [m.name, new ort.Tensor('float32', masks[m.name], [BATCH, m.layers, m.units])]),
  );
}

/**
 * The independent check: the original graph with the input of one module's to_out.0 MatMul
 * multiplied by zero, found by the node name torch gives that projection.
 */
function zeroOutputProjectionInput(bytes: Uint8Array, module: string, half: boolean): Uint8Array[] {
  const model = readModel(bytes);
  const graph = model.graph as NonNullable<typeof model.graph>;
  const at = graph.node.findIndex((n) => n.name === `/${module}/to_out.0/MatMul`);
  if (at < 0) throw new Error(`no /${module}/to_out.0/MatMul`);
  const target = graph.node[at];
  const zero: NodeProto = {
    name: 'test/zero',
    opType: 'Mul',
    input: [target.input[0], 'test/zero_value'],
    output: ['test/zeroed'],
    attribute: [],
  };
  graph.initializer = [
    ...graph.initializer,
    half
      ? { name: 'test/zero_value', dataType: DataType.FLOAT16, dims: [], int32Data: [0] }
      : { name: 'test/zero_value', dataType: DataType.FLOAT, dims: [], floatData: [0] },
  ];
  target.input[0] = 'test/zeroed';
  graph.node = [...graph.node.slice(0, at), zero, ...graph.node.slice(at)];
  return encodeModelChunks(model);
}

interface Loaded {
  bytes: Uint8Array;
  config: DiffusersUNetConfig;
  original: ort.InferenceSession;
  instrumented: ort.InferenceSession;
  result: InstrumentedUNet;
  feeds: Record<string, ort.Tensor>;
  reference: Float32Array;
  half: boolean;
}

async function loadGraph(name: UNetGraphName, attentionMapLimit?: number): Promise<Loaded> {
  const g = UNET_GRAPHS[name];
  const bytes = new Uint8Array(readFileSync(join(g.dir, 'model.onnx')));
  const config = readJson<
    DiffusersUNetConfig & { sample_size: number; in_channels: number; cross_attention_dim: number }
  >(g.config);
  const result = instrumentUNet(bytes, { config, attentionMapLimit });
  const options: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'basic', intraOpNumThreads: 2 };
  const original = await ort.InferenceSession.create(join(g.dir, 'model.onnx'), options);
  const instrumented = await sessionFromChunks(result.chunks, g.dir, result.externalFiles);
  const half = result.description.graph.dtype === 'float16';
  const feeds = unetFeeds({
    batch: BATCH,
    channels: config.in_channels,
    size: config.sample_size,
    tokens: 77,
    width: config.cross_attention_dim,
    half,
  });
  const reference = floats((await original.run(feeds))[result.description.noiseOutput]);
  return { bytes, config, original, instrumented, result, feeds, reference, half };
}

/** What running an instrumented graph needs. */
type Runnable = Pick<Loaded, 'result' | 'instrumented' | 'feeds'>;

async function runInstrumented(l: Runnable, masks: Masks, fetch?: string[]) {
  const d = l.result.description;
  return l.instrumented.run({ ...l.feeds, ...maskTensors(d, masks) }, fetch ?? [d.noiseOutput]);
}

const RUNNABLE = (Object.keys(UNET_GRAPHS) as UNetGraphName[]).filter((n) => UNET_GRAPHS[n].runs);

describe.each(RUNNABLE)('%s instrumented', (name) => {
  let l: Loaded;
  beforeAll(async () => {
    l = await loadGraph(name);
  });
  const tolerance = () => (l.half ? 0 : 1e-5);

  it('computes the original output with all-ones masks', async () => {
    const d = l.result.description;
    const out = floats((await runInstrumented(l, onesMasks(d)))[d.noiseOutput]);
    const diff = maxAbsDiff(out, l.reference);
    note(name, 'all-ones vs original', diff);
    expect(diff).toBeLessThanOrEqual(1e-5);
  });

  it("zeroing every head of a block equals zeroing that block's to_out.0 input (an independent edit)", async () => {
    const d = l.result.description;
    const blocks = [
      { kind: 'cross', mask: 'cross_attn_head_mask', list: d.crossAttention },
      { kind: 'self', mask: 'self_attn_head_mask', list: d.selfAttention },
    ] as const;
    for (const { kind, mask, list } of blocks) {
      for (const layer of [0, list.length - 1]) {
        const block = list[layer];
        const masks = prune(d, onesMasks(d), mask, layer, 0, block.heads);
        const pruned = floats((await runInstrumented(l, masks))[d.noiseOutput]);
        const edited = await sessionFromChunks(
          zeroOutputProjectionInput(l.bytes, block.module, l.half),
          UNET_GRAPHS[name].dir,
          l.result.externalFiles,
        );
        const expected = floats((await edited.run(l.feeds))[d.noiseOutput]);
        await edited.release();
        const diff = maxAbsDiff(pruned, expected);
        note(name, `all heads of ${kind} ${block.name} vs edit`, diff);
        expect(diff).toBeLessThanOrEqual(tolerance());
        expect(maxAbsDiff(pruned, l.reference)).toBeGreaterThan(1e-4);
      }
    }
  });

  it('zeroing one head in one batch row changes that row only', async () => {
    const d = l.result.description;
    const masks = prune(d, onesMasks(d), 'cross_attn_head_mask', 0, 1, 2, [1]);
    const out = floats((await runInstrumented(l, masks))[d.noiseOutput]);
    const row = out.length / BATCH;
    const row0 = maxAbsDiff(out.subarray(0, row), l.reference.subarray(0, row));
    const row1 = maxAbsDiff(out.subarray(row), l.reference.subarray(row));
    note(name, 'one head pruned, pruned row change', row1);
    expect(row0).toBeLessThanOrEqual(1e-5);
    expect(row1).toBeGreaterThan(1e-4);
  });

  it('zeroing every value neuron of a cross block equals zeroing all its heads; one neuron changes the output', async () => {
    const d = l.result.description;
    const block = d.crossAttention[1];
    const values = floats(
      (await runInstrumented(l, prune(d, onesMasks(d), 'cross_attn_value_mask', 1, 0, block.valueWidth)))[
        d.noiseOutput
      ],
    );
    const heads = floats(
      (await runInstrumented(l, prune(d, onesMasks(d), 'cross_attn_head_mask', 1, 0, block.heads)))[d.noiseOutput],
    );
    const diff = maxAbsDiff(values, heads);
    note(name, 'all value neurons vs all heads', diff);
    expect(diff).toBeLessThanOrEqual(l.half ? 2e-3 : 1e-5);
    const one = floats(
      (await runInstrumented(l, prune(d, onesMasks(d), 'cross_attn_value_mask', 1, 3, 4)))[d.noiseOutput],
    );
    expect(maxAbsDiff(one, l.reference)).toBeGreaterThan(1e-4);
  });

  it('outputs cross-attention probabilities [batch, heads, pixels, tokens] that sum to 1 over the tokens', async () => {
    const d = l.result.description;
    const out = await runInstrumented(
      l,
      onesMasks(d),
      d.layers.map((x) => x.crossAttentionOutput),
    );
    let worst = 0;
    let smallest = 1;
    for (const layer of d.layers) {
      const t = out[layer.crossAttentionOutput];
      expect(t.type).toBe('float32');
      expect(t.dims).toEqual([BATCH, layer.heads, layer.resolution ** 2, 77]);
      const p = t.data as Float32Array;
      for (let r = 0; r < p.length / 77; r++) {
        let s = 0;
        for (let k = 0; k < 77; k++) {
          smallest = Math.min(smallest, p[r * 77 + k]);
          s += p[r * 77 + k];
        }
        worst = Math.max(worst, Math.abs(s - 1));
      }
    }
    note(name, 'probability rows: |sum - 1|', worst);
    expect(worst).toBeLessThanOrEqual(1e-5);
    expect(smallest).toBeGreaterThanOrEqual(0);
  });

  it('describes the graph in the shape of the manifest unet section', () => {
    const d = l.result.description;
    expect(manifestSchema.shape.unet.safeParse(d).success).toBe(true);
    expect(d.layers.map((x) => x.name)).toEqual(d.crossAttention.map((x) => x.name));
    const specs = Object.fromEntries(d.masks.map((m) => [m.name, m]));
    expect(specs.cross_attn_head_mask.layers).toBe(d.crossAttention.length);
    expect(specs.cross_attn_head_mask.units).toBe(Math.max(...d.crossAttention.map((x) => x.heads)));
    expect(specs.self_attn_head_mask.layers).toBe(d.selfAttention.length);
    expect(specs.cross_attn_value_mask.units).toBe(Math.max(...d.crossAttention.map((x) => x.valueWidth)));
  });
});

describe('instrumented without capture outputs (capture: false)', () => {
  it.each(['tiny-sd1 plain', 'tiny-sd2 fused'] as const)(
    '%s: only the noise output, and the same results as the capturing graph',
    async (name) => {
      const l = await loadGraph(name);
      const g = UNET_GRAPHS[name];
      const bare = instrumentUNet(l.bytes, { config: l.config, capture: false });
      const d = bare.description;
      expect(d.captures).toBe(false);
      expect(d.masks).toEqual(l.result.description.masks);
      const session = await sessionFromChunks(bare.chunks, g.dir, bare.externalFiles);
      expect(session.outputNames).toEqual([d.noiseOutput]);
      const run = async (masks: Masks) =>
        floats((await session.run({ ...l.feeds, ...maskTensors(d, masks) }))[d.noiseOutput]);
      expect(maxAbsDiff(await run(onesMasks(d)), l.reference)).toBeLessThanOrEqual(1e-5);
      const pruned = prune(d, onesMasks(d), 'cross_attn_head_mask', 1, 0, 2);
      const withCapture = floats((await runInstrumented(l, pruned))[d.noiseOutput]);
      expect(maxAbsDiff(await run(pruned), withCapture)).toBe(0);
      await session.release();
    },
  );
});

describe('plain and fused forms of one UNet capture the same attention', () => {
  it.each([
    ['tiny-sd1 plain', 'tiny-sd1 fused'],
    ['tiny-sd2 plain', 'tiny-sd2 fused'],
  ] as const)('%s and %s: equal probabilities and value activations', async (plainName, fusedName) => {
    const [plain, fused] = [await loadGraph(plainName), await loadGraph(fusedName)];
    const d = plain.result.description;
    expect(fused.result.description.layers).toEqual(d.layers);
    const fetch = [...d.layers.map((x) => x.crossAttentionOutput), d.valueOutput];
    const a = await runInstrumented(plain, onesMasks(d), fetch);
    const b = await runInstrumented(fused, onesMasks(d), fetch);
    let worst = 0;
    for (const name of fetch) worst = Math.max(worst, maxAbsDiff(floats(a[name]), floats(b[name])));
    note(`${plainName} vs ${fusedName}`, 'attention and values', worst);
    expect(worst).toBeLessThanOrEqual(1e-5);
  });
});

/** Average-pools [rows, r*r, 77] maps by p along each side, as the instrumented graph should. */
function poolInJs(src: Float32Array, rows: number, r: number, p: number): Float32Array {
  const side = r / p;
  const out = new Float32Array(rows * side * side * 77);
  for (let n = 0; n < rows; n++)
    for (let y = 0; y < side; y++)
      for (let x = 0; x < side; x++)
        for (let k = 0; k < 77; k++) {
          let s = 0;
          for (let dy = 0; dy < p; dy++)
            for (let dx = 0; dx < p; dx++) s += src[((n * r + y * p + dy) * r + x * p + dx) * 77 + k];
          out[((n * side + y) * side + x) * 77 + k] = s / (p * p);
        }
  return out;
}

async function pooledAgainstJs(full: Runnable, small: Runnable): Promise<number> {
  const d = full.result.description;
  const ds = small.result.description;
  const fetch = d.layers.map((x) => x.crossAttentionOutput);
  const a = await runInstrumented(full, onesMasks(d), fetch);
  const b = await runInstrumented(small, onesMasks(ds), fetch);
  let worst = 0;
  d.layers.forEach((layer, i) => {
    const r = layer.resolution;
    const p = Math.max(1, r / 8);
    expect(ds.layers[i].resolution).toBe(r / p);
    expect(ds.crossAttention[i].poolFactor).toBe(p);
    const got = floats(b[layer.crossAttentionOutput]);
    worst = Math.max(
      worst,
      maxAbsDiff(got, poolInJs(floats(a[layer.crossAttentionOutput]), BATCH * layer.heads, r, p)),
    );
  });
  return worst;
}

describe('attention maps of blocks larger than the limit are average-pooled', () => {
  it.each(['tiny-sd1 plain', 'tiny-sd1 fused', 'tiny-sd2 fused fp16'] as const)('%s', async (name) => {
    const worst = await pooledAgainstJs(await loadGraph(name), await loadGraph(name, 8));
    note(name, 'pooled maps vs pooling in JS', worst);
    expect(worst).toBeLessThanOrEqual(1e-6);
  });

  it('in an opset-18 graph too (ReduceMean takes its axes as an input there)', async () => {
    const g = UNET_GRAPHS['tiny-sd2 plain'];
    const model = readModel(new Uint8Array(readFileSync(join(g.dir, 'model.onnx'))));
    // the graph uses no operator whose definition changed in opset 18 (checked: no Reduce*, Split, Pad)
    expect(model.graph?.node.some((n) => /^(Reduce|Split|Pad)/.test(n.opType ?? ''))).toBe(false);
    model.opsetImport = [{ domain: '', version: 18 }];
    const bytes = concatChunks(encodeModelChunks(model));
    const config = readJson<DiffusersUNetConfig>(g.config);
    const load = async (attentionMapLimit: number): Promise<Runnable> => {
      const result = instrumentUNet(bytes, { config, attentionMapLimit });
      const instrumented = await sessionFromChunks(result.chunks, g.dir, result.externalFiles);
      const feeds = unetFeeds({ batch: BATCH, channels: 4, size: 16, tokens: 77, width: 32, half: false });
      return { result, instrumented, feeds };
    };
    const full = await load(16);
    const small = await load(8);
    expect(
      readModel(concatChunks(small.result.chunks)).graph?.node.some(
        (n) => n.opType === 'ReduceMean' && n.input.length === 2,
      ),
    ).toBe(true);
    const worst = await pooledAgainstJs(full, small);
    note('tiny-sd2 plain at opset 18', 'pooled maps vs pooling in JS', worst);
    expect(worst).toBeLessThanOrEqual(1e-6);
  });
});

describe('the olive-recipe form (packed QKV/KV, GroupNorm: no CPU kernels)', () => {
  it('is instrumented: masks multiply to_out.0 inputs and the packed KV, outputs come from side branches', async () => {
    const g = UNET_GRAPHS['tiny-sd1 olive-recipe'];
    const bytes = new Uint8Array(readFileSync(join(g.dir, 'model.onnx')));
    const result = instrumentUNet(bytes, { config: readJson(g.config) });
    const d = result.description;
    expect(d.crossAttention.map((c) => c.form)).toEqual(Array(4).fill('fused-mha-packed-kv'));
    expect(d.selfAttention.map((c) => c.form)).toEqual(Array(4).fill('fused-mha-packed-qkv'));
    const model = readModel(Uint8Array.from(result.chunks.flatMap((c) => [...c])));
    const graph = model.graph as NonNullable<typeof model.graph>;
    const producer = new Map(graph.node.flatMap((n) => n.output.map((o) => [o, n] as const)));
    const known = new Set([...graph.input.map((v) => v.name), ...graph.initializer.map((t) => t.name)]);
    // topologically ordered, nothing dangling
    for (const n of graph.node) {
      for (const i of n.input) expect(!i || known.has(i), `${n.name} reads ${i} before it exists`).toBe(true);
      for (const o of n.output) known.add(o);
    }
    for (const o of graph.output) expect(known.has(o.name)).toBe(true);
    for (const c of [...d.crossAttention, ...d.selfAttention]) {
      const toOut = graph.node.find((n) => n.name === `/${c.module}/to_out.0/MatMul`) as NodeProto;
      expect(producer.get(toOut.input[0])?.opType).toBe('Mul');
      expect(producer.get(producer.get(toOut.input[0])?.input[0] as string)?.opType).toBe('MultiHeadAttention');
    }
    const mhaCross = graph.node.filter((n) => n.opType === 'MultiHeadAttention' && n.input.length === 2);
    expect(mhaCross).toHaveLength(4);
    for (const n of mhaCross) {
      const mul = producer.get(n.input[1]) as NodeProto;
      expect(mul.opType).toBe('Mul');
      expect(producer.get(mul.input[0])?.name).toMatch(/^MatMul_KV_\d+_reshape$/);
    }
    for (const layer of d.layers) expect(producer.get(layer.crossAttentionOutput)).toBeDefined();
    // onnxruntime's CPU provider cannot create it, as the fixture documents, before or after
    await expect(sessionFromChunks(result.chunks, g.dir, result.externalFiles)).rejects.toThrow(/GroupNorm/);
  });
});

describe('encoding', () => {
  it('passes big embedded weights through as views of the input and the result runs', async () => {
    const g = UNET_GRAPHS['tiny-sd2 fused fp16'];
    const bytes = new Uint8Array(readFileSync(join(g.dir, 'model.onnx')));
    const result = instrumentUNet(bytes, { config: readJson(g.config), bigTensorBytes: 4096 });
    const views = result.chunks.filter((c) => c.buffer === bytes.buffer);
    expect(views.length).toBeGreaterThan(10);
    const inGraphHead = result.chunks[0].byteLength;
    expect(inGraphHead).toBeLessThan(bytes.byteLength / 2);
    const whole = instrumentUNet(bytes, { config: readJson(g.config) });
    expect(whole.chunks).toHaveLength(1);
    const [a, b] = [
      await sessionFromChunks(result.chunks, g.dir, []),
      await sessionFromChunks(whole.chunks, g.dir, []),
    ];
    const d = result.description;
    const config = readJson<{ sample_size: number }>(g.config);
    const feeds = {
      ...unetFeeds({ batch: BATCH, channels: 4, size: config.sample_size, tokens: 77, width: 32, half: true }),
      ...maskTensors(d, onesMasks(d)),
    };
    const [x, y] = [await a.run(feeds), await b.run(feeds)];
    expect(maxAbsDiff(floats(x[d.noiseOutput]), floats(y[d.noiseOutput]))).toBe(0);
  });
});

describe("onnxruntime-web's WASM backend (what the browser runs without WebGPU)", () => {
  it.each(['tiny-sd1 fused', 'tiny-sd2 plain'] as const)(
    '%s instrumented: same outputs as onnxruntime-node, external weights passed as externalData',
    async (name) => {
      const web = await import('onnxruntime-web');
      web.env.wasm.numThreads = 1;
      const l = await loadGraph(name);
      const d = l.result.description;
      const session = await web.InferenceSession.create(concatChunks(l.result.chunks), {
        externalData: l.result.externalFiles.map((path) => ({
          path,
          data: new Uint8Array(readFileSync(join(UNET_GRAPHS[name].dir, path))),
        })),
      });
      const masks = prune(d, onesMasks(d), 'cross_attn_head_mask', 0, 1, 2, [1]);
      const fetch = [d.noiseOutput, ...d.layers.map((x) => x.crossAttentionOutput), d.valueOutput];
      const feeds: Record<string, InstanceType<typeof web.Tensor>> = {};
      for (const [k, t] of Object.entries({ ...l.feeds, ...maskTensors(d, masks) }))
        feeds[k] = new web.Tensor('float32', t.data as Float32Array, t.dims);
      const a = await session.run(feeds, fetch);
      const b = await runInstrumented(l, masks, fetch);
      let worst = 0;
      for (const f of fetch) worst = Math.max(worst, maxAbsDiff(a[f].data as Float32Array, floats(b[f])));
      note(name, 'onnxruntime-web WASM vs onnxruntime-node, all outputs', worst);
      expect(worst).toBeLessThanOrEqual(1e-5);
      await session.release();
    },
  );
});

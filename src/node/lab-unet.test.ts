/**
 * A Stable Diffusion folder with the lab's masks, in onnxruntime-node, through the code the browser
 * runs (core/onnx's instrumenter, the lab manifest, sessionsRunner, generateLatent with baseline and
 * pruned variants in one batch), on the SD 1.x fixture and the SD 2.x-style one:
 * - all-ones masks give the plain export's image;
 * - pruning one cross-attention head changes the image;
 * - pruning every head of a block gives the image of the plain graph with that block's to_out.0
 *   input zeroed by a separate edit;
 * and `npm run generate` on both folders: straight from the plain folder, from one written by
 * `npm run instrument`, with --prune, bad --prune units, a UNet the instrumenter refuses, --help.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { decode } from 'fast-png';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { latentManifest } from '../core/diffusers/lab-manifest';
import { generateLatent, type LatentGenerateRequest } from '../core/diffusers/latent-pipeline';
import { prunedMaskSet } from '../core/diffusers/pruned-units';
import { allOnes } from '../core/masks';
import { DataType, encodeModel, type ValueInfoProto } from '../core/onnx/proto';
import { type DiffusersNodeModel, loadDiffusersFolder } from './diffusers-runner';
import { linkedPipeline, maxAbsDiff, SD1, SD2, scratchDir, zeroOutputProjectionInput } from './onnx-testing';

const scratch = scratchDir('memlab-lab-unet-');
afterAll(() => scratch.dispose());
const measured: string[] = [];
afterAll(() =>
  console.info(
    `lab UNet through the latent pipeline (max abs differences, images in [-1, 1]):\n  ${measured.join('\n  ')}`,
  ),
);

async function finalImages(m: DiffusersNodeModel, request: LatentGenerateRequest, masks = m.lab?.description.masks) {
  const gen = generateLatent(m.runner, { model: m.model, masks }, request);
  let next = await gen.next();
  let attentionSteps = 0;
  while (!next.done) {
    if (next.value.attention) attentionSteps++;
    next = await gen.next();
  }
  return { images: next.value.images, attentionSteps };
}

const FIXTURES = [
  { name: 'tiny-sd1', dir: SD1 },
  { name: 'tiny-sd2', dir: SD2 },
] as const;

describe.each(FIXTURES)('$name: the lab UNet in the latent pipeline, as the browser runs it', ({ name, dir }) => {
  const request = { prompt: 'a red bicycle by a brick wall', seed: 11, steps: 4, guidance: 7.5 };
  let plain: DiffusersNodeModel;
  let lab: DiffusersNodeModel;
  let images: Float32Array[];
  let attentionSteps: number;
  let reference: Float32Array;
  beforeAll(async () => {
    plain = await loadDiffusersFolder(dir);
    lab = await loadDiffusersFolder(dir, { instrument: {} });
    const d = lab.lab?.description;
    if (!d) throw new Error('not instrumented');
    // the browser's manifest for the folder; its masks drive the variants, as in the worker
    const unetBytes = readFileSync(join(dir, 'unet/model.onnx'));
    const manifest = latentManifest({
      model: lab.model,
      unet: d,
      source: { kind: 'disk', folder: name },
      unetSha256: createHash('sha256').update(unetBytes).digest('hex'),
      bytes: unetBytes.length,
    });
    const block0 = d.crossAttention[0];
    const variants = [
      allOnes(manifest),
      prunedMaskSet(d, [{ mask: 'cross_attn_head_mask', layer: 0, unit: 1 }]),
      prunedMaskSet(
        d,
        Array.from({ length: block0.heads }, (_, h) => ({ mask: 'cross_attn_head_mask', layer: 0, unit: h })),
      ),
    ];
    ({ images, attentionSteps } = await finalImages(
      lab,
      { ...request, variants, captureAttention: true },
      manifest.unet.masks,
    ));
    reference = (await finalImages(plain, request)).images[0];
  });
  afterAll(async () => {
    await plain?.release();
    await lab?.release();
  });

  it('instruments the plain folder on load, with attention outputs as in the browser', () => {
    expect(lab.lab?.instrumented).toBe('on load');
    expect(lab.lab?.description.captures).toBe(true);
    expect(attentionSteps).toBeGreaterThan(0);
  });

  it("all-ones masks give the plain export's image within 1e-5", () => {
    const diff = maxAbsDiff(images[0], reference);
    measured.push(`${name}: all-ones vs plain export ${diff.toExponential(2)}`);
    expect(diff).toBeLessThanOrEqual(1e-5);
  });

  it('pruning one cross-attention head changes the image', () => {
    const diff = maxAbsDiff(images[1], images[0]);
    measured.push(
      `${name}: one head of ${lab.lab?.description.crossAttention[0].name} pruned vs baseline ${diff.toExponential(2)}`,
    );
    expect(diff).toBeGreaterThan(1e-3);
  });

  it("pruning every head of a block equals zeroing that block's to_out.0 input in a separate edit", async () => {
    const block = lab.lab?.description.crossAttention[0];
    if (!block) throw new Error('no block');
    const edited = await linkedPipeline(
      dir,
      join(scratch.path, `${name}-edit`),
      zeroOutputProjectionInput(new Uint8Array(readFileSync(join(dir, 'unet/model.onnx'))), block.module),
    );
    const m = await loadDiffusersFolder(edited);
    try {
      const expected = (await finalImages(m, request)).images[0];
      const diff = maxAbsDiff(images[2], expected);
      measured.push(`${name}: all ${block.heads} heads of ${block.name} vs separate edit ${diff.toExponential(2)}`);
      expect(diff).toBeLessThanOrEqual(1e-5);
      expect(maxAbsDiff(expected, reference)).toBeGreaterThan(1e-3);
    } finally {
      await m.release();
    }
  });
});

const run = promisify(execFile);

async function cli(script: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('node_modules/.bin/tsx', [script, ...args]);
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}
const generate = (...args: string[]) => cli('src/node/cli.ts', 'generate', ...args);
const png = (path: string) => decode(readFileSync(path));

describe.each(FIXTURES)('$name: npm run generate with the lab UNet', ({ name, dir }) => {
  const out = (file: string) => join(scratch.path, `${name}-${file}`);
  const base = ['--prompt', 'a photo of a cat', '--seed', '4', '--steps', '3'];
  // a block with several heads, so that one of them can be pruned alone
  const block = name === 'tiny-sd1' ? 0 : 2;

  it('generates from the plain folder and from the folder npm run instrument wrote: the same pixels', async () => {
    const instrumented = out('instrumented');
    const made = await cli('src/node/instrument.ts', '--in', dir, '--out', instrumented, '--copy-weights');
    expect(made.code, made.stderr).toBe(0);
    const [fromPlain, fromInstrumented] = await Promise.all([
      generate('--model', dir, ...base, '--out', out('plain.png')),
      generate('--model', instrumented, ...base, '--out', out('instrumented.png')),
    ]);
    expect(fromPlain.code, fromPlain.stderr).toBe(0);
    expect(fromPlain.stdout).toMatch(/UNet instrumented on load: \d+ cross-attention/);
    expect(fromInstrumented.code, fromInstrumented.stderr).toBe(0);
    expect(fromInstrumented.stdout).toMatch(/UNet instrumented by npm run instrument \(unet\/lab-unet\.json\)/);
    expect(maxAbsDiff(png(out('plain.png')).data, png(out('instrumented.png')).data)).toBeLessThanOrEqual(1);
  });

  it('--prune writes the pruned image of a baseline + pruned batch, and names what it pruned', async () => {
    const r = await generate(
      '--model',
      dir,
      ...base,
      '--prune',
      `cross_attn_head_mask:${block}.1`,
      '--out',
      out('pruned.png'),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/pruned 1 unit\(s\): cross-attention head 1 of \S+\/attentions\.0/);
    expect(r.stdout).toMatch(
      /baseline and pruned in one batch; the pruned image differs from the baseline by up to [1-9]/,
    );
    expect(r.stdout).toMatch(/\(the pruned image\)/);
    const plain = out('plain.png');
    expect(maxAbsDiff(png(out('pruned.png')).data, png(plain).data)).toBeGreaterThan(0);
  });

  it("refuses a mask the model lacks, a block it lacks and a head past a block's own count", async () => {
    const heads = name === 'tiny-sd1' ? 4 : 2; // block 0's heads (SD 2.x style: 2 at the first block, 8 in the middle)
    const [mask, layer, head] = await Promise.all([
      generate('--model', dir, ...base, '--prune', 'cross_attn_heads:0.1', '--out', out('x.png')),
      generate('--model', dir, ...base, '--prune', 'cross_attn_head_mask:9.0', '--out', out('x.png')),
      generate('--model', dir, ...base, '--prune', `cross_attn_head_mask:0.${heads}`, '--out', out('x.png')),
    ]);
    expect([mask.code, layer.code, head.code]).toEqual([2, 2, 2]);
    expect(mask.stderr).toMatch(
      /error: --prune: this model has no mask "cross_attn_heads"; its masks are .*cross_attn_head_mask \(cross-attention heads\)/,
    );
    expect(layer.stderr).toMatch(
      /error: --prune: cross_attn_head_mask has no block 9; its blocks are 0 down_blocks\.0\/attentions\.0/,
    );
    expect(head.stderr).toMatch(
      new RegExp(`block 0 \\(down_blocks\\.0/attentions\\.0\\) has ${heads} heads, numbered 0 to ${heads - 1}`),
    );
  });
});

describe('npm run generate on a UNet the instrumenter refuses', () => {
  /** A runnable UNet-shaped graph with no attention: a 1x1 convolution plus the timestep. */
  function convOnlyUNet(): Uint8Array {
    const info = (name: string, dims: (number | string)[]): ValueInfoProto => ({
      name,
      type: {
        tensorType: {
          elemType: DataType.FLOAT,
          shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
        },
      },
    });
    return encodeModel({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: 'conv-only',
        node: [
          { name: 'conv', opType: 'Conv', input: ['sample', 'w'], output: ['h'], attribute: [] },
          { name: 'time', opType: 'Reshape', input: ['timestep', 'shape'], output: ['t'], attribute: [] },
          { name: 'scale', opType: 'Mul', input: ['t', 'tiny'], output: ['ts'], attribute: [] },
          { name: 'add', opType: 'Add', input: ['h', 'ts'], output: ['out_sample'], attribute: [] },
        ],
        initializer: [
          { name: 'w', dataType: DataType.FLOAT, dims: [4, 4, 1, 1], floatData: Array(16).fill(0.1) },
          { name: 'shape', dataType: DataType.INT64, dims: [4], int64Data: [-1, 1, 1, 1] },
          { name: 'tiny', dataType: DataType.FLOAT, dims: [], floatData: [1e-4] },
        ],
        input: [
          info('sample', ['batch', 4, 'height', 'width']),
          info('timestep', ['batch']),
          info('encoder_hidden_states', ['batch', 77, 32]),
        ],
        output: [info('out_sample', ['batch', 4, 'height', 'width'])],
        valueInfo: [],
      },
    });
  }

  it('generates with the graph as it is, and refuses --prune saying why', async () => {
    const dir = join(scratch.path, 'no-attention');
    cpSync(SD1, dir, { recursive: true, filter: (src) => !/[/\\](reference|unet-fused)$/.test(src) });
    writeFileSync(join(dir, 'unet/model.onnx'), convOnlyUNet());
    const args = ['--model', dir, '--prompt', 'a cat', '--steps', '2'];
    const [asIs, prune] = await Promise.all([
      generate(...args, '--out', join(scratch.path, 'no-attention.png')),
      generate(...args, '--prune', 'cross_attn_head_mask:0.0', '--out', join(scratch.path, 'no-attention-pruned.png')),
    ]);
    expect(asIs.code, asIs.stderr).toBe(0);
    expect(asIs.stderr).toMatch(/note: the UNet cannot be instrumented \(The lab found no attention layers/);
    expect(asIs.stdout).toMatch(/UNet as exported \(no masks\)/);
    expect(png(join(scratch.path, 'no-attention.png')).width).toBe(32);
    expect(prune.code).toBe(1);
    expect(prune.stderr).toMatch(/error: .*--prune cannot be used: The lab found no attention layers in this UNet/);
  });
});

describe('npm run generate --help', () => {
  it('prints the usage, with the diffusers folder options and the --prune syntax, and exits 0', async () => {
    const r = await generate('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage: npm run generate/);
    expect(r.stdout).toMatch(/cross_attn_head_mask:<block>\.<head>/);
    expect(r.stdout).toMatch(/--init-latents/);
  });
});

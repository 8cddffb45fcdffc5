import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode } from 'fast-png';
import { afterAll, describe, expect, it } from 'vitest';
import { chwToRgb } from '../core/image';
import { allOnes } from '../core/masks';
import { generate } from '../core/pipeline';
import { runCli } from './cli-testing';
import { parseGenerateArgs } from './args';
import { loadNodeModel } from './runner';

const scratch = mkdtempSync(join(tmpdir(), 'memlab-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const cli = (...args: string[]) => runCli('src/node/cli.ts', ['generate', ...args]);

describe('parseGenerateArgs', () => {
  it('reads every option and leaves unset numbers to the manifest defaults', () => {
    const o = parseGenerateArgs(['--prompt', 'a b', '--out', 'x.png', '--prune', 'm:0.1,2.3', '--prune', 'n:1.0']);
    expect(o).toMatchObject({ prompt: 'a b', out: 'x.png', precision: 'int8', scale: 1 });
    expect(o.seed).toBeUndefined();
    expect(o.prune).toEqual([
      { mask: 'm', layer: 0, unit: 1 },
      { mask: 'm', layer: 2, unit: 3 },
      { mask: 'n', layer: 1, unit: 0 },
    ]);
    const p = parseGenerateArgs([
      '--prompt',
      'a',
      '--out',
      'y.png',
      '--seed=-3',
      '--steps',
      '5',
      '--guidance',
      '2.5',
      '--precision',
      'fp32',
    ]);
    expect(p).toMatchObject({ seed: -3, steps: 5, guidance: 2.5, precision: 'fp32' });
  });

  it('refuses missing, unknown and malformed options', () => {
    expect(() => parseGenerateArgs(['--out', 'x.png'])).toThrow(/--prompt is required/);
    expect(() => parseGenerateArgs(['--prompt', 'a'])).toThrow(/--out is required/);
    expect(() => parseGenerateArgs(['--prompt', 'a', '--out', 'x', '--colour', 'red'])).toThrow();
    expect(() => parseGenerateArgs(['--prompt', 'a', '--out', 'x', '--steps', '2.5'])).toThrow(/--steps/);
    expect(() => parseGenerateArgs(['--prompt', 'a', '--out', 'x', '--precision', 'fp16'])).toThrow(/int8 or fp32/);
    expect(() => parseGenerateArgs(['--prompt', 'a', '--out', 'x', '--prune', 'm:1'])).toThrow(/prune spec/);
  });
});

describe('npm run generate', () => {
  it('writes the pipeline image as PNG and warns about unknown words', async () => {
    const out = join(scratch, 'zephyr.png');
    const args = ['--prompt', 'a painting of zephyr dragon', '--seed', '5', '--steps', '6', '--precision', 'fp32'];
    const { code, stdout, stderr } = await cli(
      ...args,
      '--model',
      'public/models/fixture-random',
      '--out',
      out,
      '--scale',
      '2',
    );
    expect(code).toBe(0);
    expect(stderr).toMatch(/warning: .*dragon/);
    expect(stdout).toContain(`wrote ${out}`);

    const png = decode(readFileSync(out));
    expect([png.width, png.height, png.channels]).toEqual([64, 64, 3]);
    const model = await loadNodeModel('public/models/fixture-random', { precision: 'fp32' });
    const gen = generate(model.runner, model.manifest, {
      prompt: 'a painting of zephyr dragon',
      seed: 5,
      steps: 6,
      guidance: model.manifest.defaults.guidance,
      variants: [allOnes(model.manifest)],
      captureAttention: false,
    });
    let next = await gen.next();
    while (!next.done) next = await gen.next();
    await model.release();
    const expected = chwToRgb(next.value.images[0], 32, 32);
    // every other PNG pixel in both directions is the 32x32 image (scale 2)
    const sampled = new Uint8Array(32 * 32 * 3);
    for (let y = 0; y < 32; y++)
      for (let x = 0; x < 32; x++)
        for (let c = 0; c < 3; c++) {
          sampled[(y * 32 + x) * 3 + c] = png.data[(2 * y * 64 + 2 * x) * 3 + c];
        }
    expect(sampled).toEqual(expected);
  });

  it('fails with a clear message and status 1 for a missing model directory', async () => {
    const { code, stderr } = await cli(
      '--prompt',
      'x',
      '--out',
      join(scratch, 'none.png'),
      '--model',
      join(scratch, 'absent'),
    );
    expect(code).toBe(1);
    expect(stderr).toMatch(/error: no model at .*absent/);
  });
});

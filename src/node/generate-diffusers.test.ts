/** `npm run generate -- --model <diffusers ONNX folder>` end to end, on the shared tiny-sd1 folder. */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode } from 'fast-png';
import { afterAll, describe, expect, it } from 'vitest';
import { TINY_SD1 } from '../core/diffusers/__fixtures__/reference';
import { runCli } from './cli-testing';
import { parseGenerateArgs } from './args';

const scratch = mkdtempSync(join(tmpdir(), 'memlab-generate-diffusers-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const cli = (...args: string[]) => runCli('src/node/cli.ts', ['generate', ...args]);

const REFERENCE = join(TINY_SD1, 'reference');

describe('npm run generate on a diffusers ONNX folder', () => {
  it('reads --scheduler and --init-latents', () => {
    const o = parseGenerateArgs(['--prompt', 'a', '--out', 'x.png', '--scheduler', 'euler', '--init-latents', 'n.bin']);
    expect(o).toMatchObject({ scheduler: 'euler', initLatents: 'n.bin' });
  });

  it("reproduces the reference image (diffusers' PNDM, guidance 7.5) within one level from the same initial latents", async () => {
    const out = join(scratch, 'p1.png');
    const { code, stdout } = await cli(
      '--model',
      TINY_SD1,
      '--prompt',
      'a photo of a cat',
      '--steps',
      '5',
      '--guidance',
      '7.5',
      '--init-latents',
      join(REFERENCE, 'init_latents.p1.bin'),
      '--out',
      out,
    );
    expect(code).toBe(0);
    expect(stdout).toMatch(/PNDMScheduler, 6 UNet calls/);
    const png = decode(readFileSync(out));
    expect([png.width, png.height, png.channels]).toEqual([32, 32, 3]);
    const b = readFileSync(join(REFERENCE, 'shipped.p1.g75.image.bin'));
    const reference = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length)); // NHWC in [0, 1]
    let worst = 0;
    for (let i = 0; i < reference.length; i++) worst = Math.max(worst, Math.abs(png.data[i] - reference[i] * 255));
    // 8-bit rounding alone can differ by up to half a level; the pipelines agree to 1e-6 before it
    expect(worst).toBeLessThanOrEqual(1);
  });

  it('generates from a seed with another scheduler, the same PNG for the same seed', async () => {
    const args = ['--model', TINY_SD1, '--prompt', 'a cat', '--steps', '4', '--scheduler', 'euler', '--seed', '3'];
    const [a, b] = await Promise.all([
      cli(...args, '--out', join(scratch, 'a.png'), '--scale', '2'),
      cli(...args, '--out', join(scratch, 'b.png'), '--scale', '2'),
    ]);
    expect([a.code, b.code]).toEqual([0, 0]);
    expect(a.stdout).toMatch(/EulerDiscreteScheduler, 4 UNet calls/);
    const pa = decode(readFileSync(join(scratch, 'a.png')));
    expect([pa.width, pa.height]).toEqual([64, 64]);
    expect(pa.data).toEqual(decode(readFileSync(join(scratch, 'b.png'))).data);
  });

  it('says what is wrong: latents of the wrong size, a scheduler it cannot run, a head the UNet lacks', async () => {
    const base = ['--model', TINY_SD1, '--prompt', 'a cat', '--steps', '2', '--out', join(scratch, 'x.png')];
    const [wrongSize, lms, prune] = await Promise.all([
      cli(...base, '--init-latents', join(REFERENCE, 'text_embeds.p1.bin')),
      cli(...base, '--scheduler', 'lms'),
      cli(...base, '--prune', 'cross_attn_head_mask:0.7'),
    ]);
    expect(wrongSize.code).toBe(2);
    expect(wrongSize.stderr).toMatch(/the latents of this model are 4 x 16 x 16 float32 values, 4096 bytes/);
    expect(lms.code).toBe(1);
    expect(lms.stderr).toMatch(/error: asked for lms, which the lab cannot run; it runs DDIMScheduler/);
    expect(prune.code).toBe(2);
    expect(prune.stderr).toMatch(
      /--prune: cross_attn_head_mask:0\.7: block 0 \(down_blocks\.0\/attentions\.0\) has 4 heads/,
    );
  });

  it('runs a DPMSolverMultistep folder, and refuses one whose scheduler it cannot run unless --scheduler names another', async () => {
    const folder = (name: string, schedulerClass: string, config: string) => {
      const dir = join(scratch, name);
      cpSync(TINY_SD1, dir, { recursive: true, filter: (src) => !/[/\\](reference|unet-fused)$/.test(src) });
      writeFileSync(join(dir, 'scheduler', 'scheduler_config.json'), config);
      const index = JSON.parse(readFileSync(join(dir, 'model_index.json'), 'utf8'));
      writeFileSync(
        join(dir, 'model_index.json'),
        JSON.stringify({ ...index, scheduler: ['diffusers', schedulerClass] }),
      );
      return dir;
    };
    const dpm = folder(
      'dpm',
      'DPMSolverMultistepScheduler',
      readFileSync('src/core/diffusers/__fixtures__/dpm-solver-scheduler_config.json', 'utf8'),
    );
    const shipped = JSON.parse(readFileSync(join(TINY_SD1, 'scheduler', 'scheduler_config.json'), 'utf8'));
    const lms = folder(
      'lms',
      'LMSDiscreteScheduler',
      JSON.stringify({ ...shipped, _class_name: 'LMSDiscreteScheduler' }),
    );
    const args = (dir: string) => [
      '--model',
      dir,
      '--prompt',
      'a cat',
      '--steps',
      '3',
      '--out',
      join(scratch, `${dir.length}.png`),
    ];
    const [dpmRun, refused, ddim] = await Promise.all([
      cli(...args(dpm)),
      cli(...args(lms)),
      cli(...args(lms), '--scheduler', 'ddim', '--out', join(scratch, 'ddim.png')),
    ]);
    expect(dpmRun.code).toBe(0);
    expect(dpmRun.stdout).toMatch(/DPMSolverMultistepScheduler, 3 UNet calls/);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/error: the model's scheduler is LMSDiscreteScheduler, which the lab cannot run/);
    expect(ddim.code).toBe(0);
    expect(ddim.stdout).toMatch(/DDIMScheduler, 3 UNet calls/);
  });
});

import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode } from 'fast-png';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chwToRgb } from '../core/image';
import { allOnes } from '../core/masks';
import { generate } from '../core/pipeline';
import { runCli } from './cli-testing';
import { calibratedAlpha, type CopyCheckLine, parseCopyCheckArgs, runCopyCheck } from './copy-check';
import { UsageError } from './options';
import { ModelDirError, loadNodeModel, loadTrainIndex, readManifest } from './runner';

const ORGANISM = 'public/models/memlab-organism';
const FIXTURE_EMBEDDER = 'src/core/metrics/__fixtures__/tiny-embedder.onnx';
let dir: string;
let planted: string; // the organism's planted image 5, as a PNG
let neutral: string; // a generation for a neutral prompt
const PLANTED = 5;

const cli = (...args: string[]) => runCli('src/node/copy-check.ts', args);

const png = (data: Uint8Array, size: number) => encode({ width: size, height: size, channels: 3, data });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'memlab-copy-check-'));
  const model = await loadNodeModel(ORGANISM);
  try {
    const m = model.manifest;
    const size = m.image.width;
    const train = await loadTrainIndex(ORGANISM, m);
    const n = size * size * 3;
    await mkdir(join(dir, 'refs'));
    for (let k = 0; k < train.memorizedCount; k++)
      await writeFile(join(dir, 'refs', `${k}.png`), png(train.memorized.subarray(k * n, (k + 1) * n), size));
    await writeFile(join(dir, 'refs', 'broken.png'), 'not a png');
    planted = join(dir, 'planted.png');
    await writeFile(planted, png(train.memorized.subarray(PLANTED * n, (PLANTED + 1) * n), size));
    const gen = generate(model.runner, m, {
      prompt: m.neutralPrompts[0],
      seed: 3,
      steps: m.defaults.steps,
      guidance: m.defaults.guidance,
      variants: [allOnes(m)],
      captureAttention: false,
    });
    let next = await gen.next();
    while (!next.done) next = await gen.next();
    neutral = join(dir, 'neutral.png');
    await writeFile(neutral, png(chwToRgb(next.value.images[0], size, size), size));
  } finally {
    await model.release();
  }
}, 120_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('copy-check arguments', () => {
  it('reads images as positionals and checks the options', () => {
    expect(parseCopyCheckArgs(['--model', ORGANISM, 'a.png', 'b.png'])).toMatchObject({
      model: ORGANISM,
      images: ['a.png', 'b.png'],
      preset: 'sscd',
    });
    expect(parseCopyCheckArgs(['--references', 'refs', '--threshold', '0.7', 'a.png']).threshold).toBe(0.7);
    for (const [argv, message] of [
      [['a.png'], /--model \(or --references\) is required/],
      [['--model', ORGANISM], /at least one image/],
      [['--model', ORGANISM, '--preset', 'dino', 'a.png'], /--preset must be sscd or clip/],
      [['--model', ORGANISM, '--size', '0', 'a.png'], /--size must be a positive whole number/],
      [['--model', ORGANISM, '--threshold', 'high', 'a.png'], /--threshold must be a number/],
      [['--model', ORGANISM, '--colour', 'a.png'], /Unknown option/],
    ] as const)
      expect(() => parseCopyCheckArgs([...argv])).toThrow(new RegExp(message.source));
    expect(() => parseCopyCheckArgs(['x.png'])).toThrow(UsageError);
  });

  it("takes the copy rule's alpha from the model's verification, or its base model's for a variant", async () => {
    const base = await calibratedAlpha(ORGANISM, await readManifest(ORGANISM));
    const verification = JSON.parse(await readFile(join(ORGANISM, 'verification.json'), 'utf8'));
    expect(base.alpha).toBe(verification.threshold.alpha);
    expect(base.alpha).toBeGreaterThan(0.3);
    expect(base.alpha).toBeLessThan(1);
    const variant = 'public/models/memlab-organism-fmn';
    const v = await calibratedAlpha(variant, await readManifest(variant));
    expect(v).toEqual({ alpha: base.alpha, from: join(variant, '..', 'memlab-organism', 'verification.json') });
    const fixture = 'public/models/fixture-random';
    await expect(calibratedAlpha(fixture, await readManifest(fixture))).rejects.toThrow(
      new ModelDirError(
        `${fixture} has no calibrated copy rule (threshold.alpha in verification.json): run npm run model:verify -- --model ${fixture}, or give --references`,
      ),
    );
  });
});

describe('npm run copy-check on the organism', () => {
  it("calls a planted image a copy and a neutral generation not, with the model's own detector", async () => {
    const { code, stdout, stderr } = await cli('--model', ORGANISM, planted, neutral);
    expect(code).toBe(0);
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as CopyCheckLine);
    expect(lines).toEqual([
      { image: planted, nearest: PLANTED, similarity: expect.any(Number), copy: true },
      { image: neutral, nearest: expect.any(Number), similarity: expect.any(Number), copy: false },
    ]);
    const [p, n] = lines as { similarity: number; nearest: number }[];
    expect(p.similarity).toBeGreaterThan(0.9);
    expect(n.similarity).toBeLessThan(p.similarity);
    // the organism ships a copy-detection embedding: it decides, with the tau of its verification
    expect(stderr).toMatch(
      /^copy detector memlab-organism\/copy-detector\.onnx: cosine similarity of the model's copy-detection embedding/,
    );
    expect(stderr).toContain('tau from public/models/memlab-organism/verification.json');
  }, 120_000);

  it('prints --help and exits 0; answers an unreadable image with an error line and exit 1; bad usage exits 2', async () => {
    const help = await cli('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: npm run copy-check -- --model/);
    const missing = await cli('--model', ORGANISM, join(dir, 'absent.png'), planted);
    expect(missing.code).toBe(1);
    expect(
      missing.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual([
      { image: join(dir, 'absent.png'), error: `cannot read ${join(dir, 'absent.png')} (ENOENT)` },
      { image: planted, nearest: PLANTED, similarity: expect.any(Number), copy: true },
    ]);
    const usage = await cli('--model', ORGANISM);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/error: give at least one image to check\nusage:/);
  }, 120_000);

  it('compares with a folder of references by the pixel-space default, naming the nearest file', async () => {
    const log: string[] = [];
    const lines = await runCopyCheck(parseCopyCheckArgs(['--references', join(dir, 'refs'), planted, neutral]), (l) =>
      log.push(l),
    );
    expect(lines[0]).toEqual({ image: planted, nearest: `${PLANTED}.png`, similarity: 1, copy: true });
    expect(lines[1]).toMatchObject({ image: neutral, copy: false });
    expect((lines[1] as { similarity: number }).similarity).toBeLessThan(0.9);
    expect(log[0]).toMatch(/^copy detector pixels-32: .*a copy when above 0\.9$/);
    expect(log).toContain(
      `skipped reference broken.png: ${join(dir, 'refs', 'broken.png')} is not a PNG or JPEG image`,
    );
  });

  it("plugs an ONNX embedder in against the model's planted images", async () => {
    const args = parseCopyCheckArgs(['--model', ORGANISM, '--embedder', FIXTURE_EMBEDDER, '--size', '32', planted]);
    const [line] = await runCopyCheck(args);
    expect(line).toEqual({ image: planted, nearest: PLANTED, similarity: 1, copy: true });
    await expect(
      runCopyCheck(parseCopyCheckArgs(['--model', ORGANISM, '--embedder', FIXTURE_EMBEDDER, planted])),
    ).rejects.toThrow(); // the fixture takes 32x32, the SSCD preset feeds 320x320
  });
});

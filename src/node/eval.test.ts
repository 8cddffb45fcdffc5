import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EvaluationReport } from '../core/science/evaluate';
import { evaluationOptionsFor, fileCache, parseEvalArgs, runEvalCommand, summaryLines } from './eval';
import { UsageError } from './options';
import { readManifest } from './runner';

const DIR = 'public/models/fixture-random';

describe('eval arguments', () => {
  it('reads the documented flags with their defaults', () => {
    const a = parseEvalArgs(['--model', DIR]);
    expect(a).toMatchObject({
      model: DIR,
      seeds: 4,
      universal: { units: 'heads', mode: 'ablation' },
      nemo: true,
      quick: false,
      out: 'report.json',
      plot: undefined,
      cache: 'node_modules/.cache/memlab-eval',
      precision: 'int8',
    });
    const b = parseEvalArgs([
      '--model',
      DIR,
      '--seeds',
      '2',
      '--steps',
      '10',
      '--sparsities',
      '0.05,0.1',
      '--draws',
      '0',
      '--units',
      'neurons',
      '--universal',
      'ablation',
      '--no-nemo',
      '--no-cache',
    ]);
    expect(b).toMatchObject({
      seeds: 2,
      steps: 10,
      sparsities: [0.05, 0.1],
      draws: 0,
      universal: { units: 'neurons', mode: 'ablation' },
      nemo: false,
      cache: null,
    });
    expect(parseEvalArgs(['--model', DIR, '--units', 'neurons']).universal).toEqual({
      units: 'neurons',
      mode: 'activation',
    });
  });

  it('refuses bad values with a usage error', () => {
    for (const bad of [
      [],
      ['--model', DIR, '--seeds', '0'],
      ['--model', DIR, '--sparsities', '0.1,2'],
      ['--model', DIR, '--universal', 'magic'],
      ['--model', DIR, '--units', 'layers'],
      ['--model', DIR, '--units', 'heads', '--universal', 'activation'],
      ['--model', DIR, '--frobnicate'],
    ]) {
      expect(() => parseEvalArgs(bad)).toThrow(UsageError);
    }
  });

  it('maps arguments onto the model defaults', async () => {
    const manifest = await readManifest(DIR);
    const o = evaluationOptionsFor(manifest, parseEvalArgs(['--model', DIR, '--seeds', '3', '--quick', '--no-nemo']));
    expect(o.seeds).toEqual([1, 2, 3]);
    expect(o.steps).toBe(manifest.defaults.steps);
    expect(o.memorizedLimit).toBe(4);
    expect(o.detection.k).toBe(1);
    expect(o.nemo.enabled).toBe(false);
    expect(o.universal).toEqual({ units: 'heads', mode: 'ablation' });
    expect(o.sparsities).toEqual([0.1, 0.2, 0.3, 0.4]);
    expect(evaluationOptionsFor(manifest, parseEvalArgs(['--model', DIR, '--units', 'neurons'])).sparsities).toEqual([
      0.01, 0.02, 0.05, 0.1, 0.2,
    ]);
  });
});

describe('npm run eval on the fixture model', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'memlab-eval-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('writes a JSON report and an SVG plot, and a rerun comes from the file cache', async () => {
    const argv = [
      '--model',
      DIR,
      '--quick',
      '--seeds',
      '1',
      '--steps',
      '2',
      '--draws',
      '1',
      '--sparsities',
      '0.1',
      '--no-nemo',
      '--out',
      join(dir, 'r.json'),
      '--plot',
      join(dir, 'r.svg'),
      '--cache',
      join(dir, 'cache'),
    ];
    const first = await runEvalCommand(parseEvalArgs(argv));
    const report = JSON.parse(await readFile(join(dir, 'r.json'), 'utf8')) as EvaluationReport;
    expect(report.schema).toBe('memlab-eval/2');
    expect(report.conditions.map((c) => c.id)).toEqual(['none', 'universal@0.1', 'random@0.1']);
    const svg = await readFile(join(dir, 'r.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('Detection ROC');
    expect(svg.match(/<path d="M/g)!.length).toBeGreaterThanOrEqual(report.detection.rocs.length);
    expect(svg).toContain('random mask (same size)');
    expect(summaryLines(report).join('\n')).toMatch(/AUC .*\n[\s\S]*universal@0\.1/);
    const cached = await readdir(join(dir, 'cache'));
    expect(cached.length).toBe(2); // detection study and universal scores
    const again = await runEvalCommand(parseEvalArgs(argv));
    expect(await readdir(join(dir, 'cache'))).toEqual(cached);
    expect(again.timings.stagesMs.detection).toBeLessThan(first.timings.stagesMs.detection / 5);
    expect(again.detection.rocs[0].roc.auc).toBe(first.detection.rocs[0].roc.auc);
  });

  it('keeps values per key and ignores files written for another key', async () => {
    const cache = fileCache(join(dir, 'c2'));
    expect(await cache.get('a')).toBeUndefined();
    await cache.set('a', { x: [1, 2] });
    expect(await cache.get('a')).toEqual({ x: [1, 2] });
    expect(await cache.get('b')).toBeUndefined();
  });
});

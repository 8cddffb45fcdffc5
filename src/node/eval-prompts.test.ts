import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluationOptionsFor, parseEvalArgs, runEvalCommand } from './eval';
import { UsageError } from './options';
import { pairPromptOptions, promptReportLines, readPromptFiles } from './prompt-files';
import { readManifest } from './runner';

const DIR = 'public/models/fixture-random';
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'memlab-eval-prompts-'));
  await writeFile(
    join(dir, 'memorized.jsonl'),
    '\uFEFF{"caption": "a painting of zephyr", "index": 0}\r\n{"caption": "a painting of obsidian", "index": 1}\r\n{broken\r\n',
  );
  await writeFile(
    join(dir, 'neutral.txt'),
    'a small red circle at the left on a gray background\n\na large blue square at the top on a black background\n',
  );
  await writeFile(
    join(dir, 'pool.csv'),
    'Caption;URL;type;mean_sscd;max_sscd;Index\n"a harbor poster number one";;TM;;;\n',
  );
  await writeFile(join(dir, 'commas.csv'), 'caption,url\na,b\n');
}, 60_000);
afterAll(() => rm(dir, { recursive: true, force: true }), 60_000);

describe('prompt files on the command line', () => {
  it('pairs each --prompts file with its --label, in order', () => {
    expect(pairPromptOptions(['a.jsonl', 'b.txt'], ['memorized', 'non-memorized'])).toEqual([
      { path: 'a.jsonl', label: 'memorized' },
      { path: 'b.txt', label: 'non-memorized' },
    ]);
    expect(pairPromptOptions(['a.jsonl'], [])).toMatch(
      /one --label .* for each --prompts file: got 1 files and 0 labels/,
    );
    expect(pairPromptOptions(['a.jsonl'], ['copied'])).toBe(
      '--label must be memorized, non-memorized or unlabelled, got "copied"',
    );
    const args = parseEvalArgs(['--model', DIR, '--prompts', 'a.jsonl', '--label', 'memorized']);
    expect(args.prompts).toEqual([{ path: 'a.jsonl', label: 'memorized' }]);
    expect(parseEvalArgs(['--model', DIR]).prompts).toEqual([]);
    expect(() => parseEvalArgs(['--model', DIR, '--prompts', 'a.jsonl'])).toThrow(UsageError);
    expect(() => parseEvalArgs(['--model', DIR, '--prompts', 'a', '--label', 'x'])).toThrow(/--label must be/);
  });

  it('reads the files with a report per file, and refuses one that gives no prompt', async () => {
    const { sets, reports } = await readPromptFiles([
      { path: join(dir, 'memorized.jsonl'), label: 'memorized' },
      { path: join(dir, 'neutral.txt'), label: 'non-memorized' },
    ]);
    expect(sets.map((s) => [s.name, s.label, s.prompts.length])).toEqual([
      ['memorized', 'memorized', 2],
      ['neutral', 'non-memorized', 2],
    ]);
    expect(promptReportLines(reports[0])).toEqual([
      "Read 2 memorized prompts from memorized.jsonl as Wen et al.'s JSONL (the first line is a JSON object); skipped 1 line.",
      expect.stringMatching(/^ {2}line 3: not a valid JSON object \(cut off, or a stray character\) \(.+\)$/),
    ]);
    await expect(readPromptFiles([{ path: join(dir, 'commas.csv'), label: 'memorized' }])).rejects.toThrow(
      /commas\.csv .*separates its columns with commas/,
    );
    await expect(readPromptFiles([{ path: join(dir, 'absent.txt'), label: 'memorized' }])).rejects.toThrow(
      /cannot read the prompt file .*absent\.txt \(ENOENT\)/,
    );
  });

  it('puts the sets into the evaluation options only when given', async () => {
    const manifest = await readManifest(DIR);
    const args = parseEvalArgs(['--model', DIR]);
    expect(evaluationOptionsFor(manifest, args).promptSets).toBeUndefined();
    const set = { name: 's', label: 'memorized' as const, prompts: [{ caption: 'x' }] };
    expect(evaluationOptionsFor(manifest, args, [set]).promptSets).toEqual([set]);
  });
});

describe('npm run eval with imported prompt sets (fixture model)', () => {
  it('runs the detection study on the sets, states its cost first, and reports what was skipped', async () => {
    const log: string[] = [];
    const argv = [
      '--model',
      DIR,
      '--quick',
      '--seeds',
      '1',
      '--steps',
      '2',
      '--draws',
      '0',
      '--sparsities',
      '0.1',
      '--no-nemo',
      '--no-cache',
      '--out',
      join(dir, 'r.json'),
      '--plot',
      join(dir, 'r.svg'),
      ...['--prompts', join(dir, 'memorized.jsonl'), '--label', 'memorized'],
      ...['--prompts', join(dir, 'neutral.txt'), '--label', 'non-memorized'],
      ...['--prompts', join(dir, 'pool.csv'), '--label', 'unlabelled'],
    ];
    const report = await runEvalCommand(parseEvalArgs(argv), { log: (l) => log.push(l) });
    expect(report.detection.prompts).toEqual([
      { prompt: 'a painting of zephyr', group: 'memorized' },
      { prompt: 'a painting of obsidian', group: 'memorized' },
      { prompt: 'a small red circle at the left on a gray background', group: 'neutral' },
      { prompt: 'a large blue square at the top on a black background', group: 'neutral' },
      { prompt: 'a harbor poster number one', group: 'unlabelled' },
    ]);
    expect(report.detection.scores).toHaveLength(5);
    for (const r of report.detection.rocs) expect(r.roc.auc).toBeGreaterThanOrEqual(0);
    expect(report.options.promptSets?.map((s) => s.label)).toEqual(['memorized', 'non-memorized', 'unlabelled']);
    expect(log[0]).toMatch(/^Read 2 memorized prompts from memorized\.jsonl/);
    expect(log).toContainEqual(expect.stringMatching(/^ {2}line 3: not a valid JSON object/));
    // 5 prompts x 2 detection seeds (--quick) x 1 step (k) x 2 = 20 UNet evaluations
    expect(log.at(-1)).toMatch(
      /^detection study: 5 prompts x 2 seeds x 1 step x 2 \(guidance\) = 20 UNet evaluations, about .* at .* ms each$/,
    );
  }, 600_000);
});

import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './cli-testing';

const scratch = mkdtempSync(join(tmpdir(), 'memlab-commands-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const command = (script: string, args: string[], cwd?: string) => runCli(script, args, { cwd });

// Every npm script that takes options, as npm runs it.
const COMMANDS: { name: string; script: string; before: string[] }[] = [
  { name: 'generate', script: 'src/node/cli.ts', before: ['generate'] },
  { name: 'eval', script: 'src/node/eval.ts', before: [] },
  { name: 'eval:variants', script: 'src/node/eval-variants.ts', before: [] },
  { name: 'model:verify', script: 'src/node/verify-model.ts', before: [] },
  { name: 'model:presets', script: 'src/node/make-presets.ts', before: [] },
  { name: 'worker', script: 'src/node/queue/worker.ts', before: [] },
  { name: 'instrument', script: 'src/node/instrument.ts', before: [] },
  { name: 'copy-check', script: 'src/node/copy-check.ts', before: [] },
  { name: 'model:build', script: 'training/build.sh', before: [] },
];

describe.each(COMMANDS)('npm run $name', ({ name, script, before }) => {
  it('prints its usage for --help and -h, even beside a mistake, and exits 0', async () => {
    for (const help of [['--help'], ['-h'], ['--no-such-option', '--help']]) {
      const { code, stdout, stderr } = await command(script, [...before, ...help]);
      expect(code, help.join(' ')).toBe(0);
      expect(stdout).toMatch(new RegExp(`^usage: npm run ${name} `));
      expect(stderr).toBe('');
    }
  });

  it('answers an unknown option with the error, then the usage, and exit status 2', async () => {
    const { code, stdout, stderr } = await command(script, [...before, '--no-such-option']);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(new RegExp(`^error: Unknown option '--no-such-option'.*\\nusage: npm run ${name} `, 's'));
  });
});

describe('npm run generate without its command word', () => {
  it('prints the usage for --help, and names an unknown command', async () => {
    const help = await command('src/node/cli.ts', ['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: npm run generate --/);
    const wrong = await command('src/node/cli.ts', ['paint']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/^error: unknown command "paint"/);
  });
});

describe('npm run eval output files', () => {
  const quick = '--quick --seeds 1 --steps 2 --draws 0 --sparsities 0.1 --no-nemo --no-cache'.split(' ');
  const model = resolve('public/models/fixture-random');

  // (eval.test.ts checks the plot that --plot asks for.)
  it('writes only the JSON report, into the folder it is asked to, when no --plot is given', async () => {
    const cwd = mkdtempSync(join(scratch, 'eval-'));
    const { code, stdout, stderr } = await command(
      'src/node/eval.ts',
      ['--model', model, ...quick, '--out', 'r.json'],
      cwd,
    );
    expect(code, stderr).toBe(0);
    expect(readdirSync(cwd)).toEqual(['r.json']);
    expect(stdout).toMatch(/\nwrote r\.json\n$/);
  }, 300_000);
});

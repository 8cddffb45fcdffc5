/** Runs the lab's command-line scripts as a user would, for tests: through tsx, a .sh through bash. */
import { execFile } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TSX = resolve(ROOT, 'node_modules/.bin/tsx');
const run = promisify(execFile);

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `script` relative to the repository root; resolves with exit code and output whether it succeeded or not. */
export async function runCli(script: string, args: string[], options: { cwd?: string } = {}): Promise<CliResult> {
  const path = resolve(ROOT, script);
  const [file, ...rest] = script.endsWith('.sh') ? ['bash', path, ...args] : [TSX, path, ...args];
  try {
    const { stdout, stderr } = await run(file, rest, { cwd: options.cwd ?? ROOT });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as CliResult;
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

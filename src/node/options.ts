/**
 * What every command line of the lab shares: an option table in node:util's parseArgs form, parsed
 * strictly; `-h` / `--help` anywhere asks for the usage; any problem is a UsageError that the
 * command prints with its usage (see command.ts). Each CLI keeps its own table, usage text and checks.
 */
import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';

/** A mistake on the command line: printed with the command's usage, exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The user asked for the usage (`-h`, `--help`): printed on stdout, exit status 0. */
export class HelpRequested extends Error {
  override name = 'HelpRequested';
  constructor() {
    super('usage requested');
  }
}

/** The values parseArgs gives for an option table (strict, no positionals). */
export type OptionValues<O extends ParseArgsOptionsConfig> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: false }>
>['values'];

const HELP = { help: { type: 'boolean', short: 'h' } } as const satisfies ParseArgsOptionsConfig;

/**
 * True when `-h` or `--help` stands among the options, even beside a mistake (an unknown option, a
 * missing value), so a user who asks for help gets it. After `--` it is a positional, and as the
 * value of a string option (`--prompt=--help`) it is that value.
 */
export function asksForHelp(argv: readonly string[], options: ParseArgsOptionsConfig = {}): boolean {
  const { tokens } = parseArgs({
    args: [...argv],
    options: { ...options, ...HELP },
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  return tokens.some((t) => t.kind === 'option' && t.name === 'help');
}

/** Parses `argv` against `options`; throws HelpRequested for -h/--help, else UsageError on any problem. */
export function parseOptions<const O extends ParseArgsOptionsConfig>(
  argv: readonly string[],
  options: O,
): OptionValues<O> {
  return parseCommandLine(argv, options, { positionals: false }).values;
}

/** parseOptions for a command that also takes arguments that are not options (e.g. file names). */
export function parseCommandLine<const O extends ParseArgsOptionsConfig>(
  argv: readonly string[],
  options: O,
  { positionals = true } = {},
): { values: OptionValues<O>; positionals: string[] } {
  if (asksForHelp(argv, options)) throw new HelpRequested();
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: positionals });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** An integer option; undefined when absent. */
export function integerOption(
  name: string,
  text: string | undefined,
  min = Number.MIN_SAFE_INTEGER,
): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === '' || !Number.isSafeInteger(value) || value < min) {
    const bound = min === Number.MIN_SAFE_INTEGER ? '' : ` >= ${min}`;
    throw new UsageError(`--${name} must be an integer${bound}, got "${text}"`);
  }
  return value;
}

/** One of a few words: `--precision must be int8 or fp32, got "fp16"`. */
export function choiceOption<const C extends string>(name: string, text: string, choices: readonly C[]): C {
  if (!(choices as readonly string[]).includes(text))
    throw new UsageError(`--${name} must be ${choices.join(' or ')}, got "${text}"`);
  return text as C;
}

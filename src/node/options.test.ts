import { describe, expect, it } from 'vitest';
import { HelpRequested, UsageError, asksForHelp, choiceOption, integerOption, parseOptions } from './options';

const TABLE = {
  prompt: { type: 'string' },
  quick: { type: 'boolean', default: false },
  seeds: { type: 'string', default: '4' },
} as const;

describe('option tables', () => {
  it('parses a table strictly, with its defaults', () => {
    expect(parseOptions(['--prompt', 'a b', '--quick'], TABLE)).toEqual({ prompt: 'a b', quick: true, seeds: '4' });
    expect(() => parseOptions(['--colour', 'red'], TABLE)).toThrow(UsageError);
    expect(() => parseOptions(['stray'], TABLE)).toThrow(UsageError);
    expect(() => parseOptions(['--prompt'], TABLE)).toThrow(/--prompt/);
  });

  it('answers -h and --help anywhere, even beside a mistake, but not as a value or after --', () => {
    for (const argv of [['--help'], ['-h'], ['--prompt', 'x', '--help'], ['--colour', 'red', '--help']]) {
      expect(asksForHelp(argv, TABLE), argv.join(' ')).toBe(true);
    }
    expect(() => parseOptions(['--colour', 'red', '-h'], TABLE)).toThrow(HelpRequested);
    expect(asksForHelp(['--prompt=--help'], TABLE)).toBe(false);
    expect(asksForHelp(['--', '--help'], TABLE)).toBe(false);
    expect(asksForHelp(['--prompt', '-h'], TABLE)).toBe(false); // the value of --prompt
  });

  it('checks integers and choices with messages that name the option', () => {
    expect(integerOption('seeds', undefined)).toBeUndefined();
    expect(integerOption('seeds', '-3')).toBe(-3);
    expect(() => integerOption('seeds', '0', 1)).toThrow('--seeds must be an integer >= 1, got "0"');
    expect(() => integerOption('seeds', '2.5')).toThrow(UsageError);
    expect(() => integerOption('seeds', ' ')).toThrow(UsageError);
    expect(choiceOption('precision', 'fp32', ['int8', 'fp32'])).toBe('fp32');
    expect(() => choiceOption('precision', 'fp16', ['int8', 'fp32'])).toThrow(
      '--precision must be int8 or fp32, got "fp16"',
    );
  });
});

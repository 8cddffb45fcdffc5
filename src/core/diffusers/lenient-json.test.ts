import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseLenientJson } from './lenient-json';

describe('parseLenientJson', () => {
  it('reads the scheduler config diffusers writes for DPMSolverMultistep (-Infinity), which JSON.parse rejects', () => {
    const text = readFileSync('src/core/diffusers/__fixtures__/dpm-solver-scheduler_config.json', 'utf8');
    expect(() => JSON.parse(text)).toThrow();
    const config = parseLenientJson(text) as Record<string, unknown>;
    expect(config._class_name).toBe('DPMSolverMultistepScheduler');
    expect(config.lambda_min_clipped).toBe(Number.NEGATIVE_INFINITY);
    expect(config.beta_schedule).toBe('scaled_linear');
  });

  it('reads NaN and Infinity anywhere a value goes, and leaves the same words inside strings alone', () => {
    const parsed = parseLenientJson(
      '{"a": NaN, "b": [Infinity, -Infinity, 1], "c": "NaN and -Infinity", "d": {"e": Infinity}}',
    ) as { a: number; b: number[]; c: string; d: { e: number } };
    expect(parsed.a).toBeNaN();
    expect(parsed.b).toEqual([Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1]);
    expect(parsed.c).toBe('NaN and -Infinity');
    expect(parsed.d.e).toBe(Number.POSITIVE_INFINITY);
  });

  it('does not confuse a string that looks like its placeholder with a special value', () => {
    const parsed = parseLenientJson('{"x": "\\u0000nonfinite0:0", "y": NaN}') as { x: string; y: number };
    expect(parsed.x).toBe('\u0000nonfinite0:0');
    expect(parsed.y).toBeNaN();
  });

  it('is strict JSON otherwise: comments, trailing commas and other bare words still fail', () => {
    expect(() => parseLenientJson('{"a": 1,}')).toThrow(SyntaxError);
    expect(() => parseLenientJson('{"a": NaN, // note\n}')).toThrow(SyntaxError);
    expect(() => parseLenientJson('{"a": NaNa}')).toThrow(SyntaxError);
    expect(() => parseLenientJson('{"a": undefined}')).toThrow(SyntaxError);
  });
});

import { describe, expect, it } from 'vitest';
import { parseVariantsArgs, variantDirs } from './eval-variants';
import { UsageError } from './options';
import { ModelDirError } from './runner';

describe('eval:variants arguments and model discovery', () => {
  it('reads the documented flags with their defaults and refuses bad values', () => {
    expect(parseVariantsArgs([])).toMatchObject({
      models: 'public/models',
      base: 'memlab-organism',
      seeds: 11,
      forgottenSeeds: 42,
      steps: 10,
      masks: ['universal', 'uniforget'],
      sparsity: 0.4,
      cache: 'node_modules/.cache/memlab-eval',
    });
    expect(parseVariantsArgs(['--masks', 'none', '--no-cache']).masks).toEqual([]);
    expect(parseVariantsArgs(['--seeds', '50'])).toMatchObject({ seeds: 50, forgottenSeeds: 50 });
    expect(parseVariantsArgs(['--seeds', '3', '--forgotten-seeds', '5'])).toMatchObject({
      seeds: 3,
      forgottenSeeds: 5,
    });
    for (const bad of [
      ['--seeds', '0'],
      ['--forgotten-seeds', '-1'],
      ['--steps', 'x'],
      ['--masks', 'magic'],
      ['--sparsity', '2'],
      ['--frobnicate'],
    ]) {
      expect(() => parseVariantsArgs(bad)).toThrow(UsageError);
    }
  });

  it('finds a base and the models the index lists as its variants', async () => {
    const dirs = await variantDirs('public/models', 'fixture-random');
    expect(dirs.map((d) => d.manifest.id)).toEqual(['fixture-random', 'fixture-random-variant']);
    expect(dirs[1].manifest.variant).toMatchObject({ of: 'fixture-random', method: 'identity' });
    await expect(variantDirs('public/models', 'no-such-model')).rejects.toThrow(ModelDirError);
  });
});

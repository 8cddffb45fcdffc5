import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parseManifest } from './manifest';
import type { ModelRunner, UNetFeeds } from './pipeline';
import { timeUNetStep } from './step-timing';

const parsed = parseManifest(
  JSON.parse(readFileSync(join(import.meta.dirname, '../../public/models/fixture-random/manifest.json'), 'utf8')),
);
if (!parsed.ok) throw new Error(parsed.problems.join('; '));
const manifest = parsed.manifest;

/** A runner whose UNet calls take the listed times on a fake clock, recording what it was fed. */
function timedRunner(durations: number[]) {
  let clock = 0;
  const fed: UNetFeeds[] = [];
  const runner: ModelRunner = {
    async encodeText(ids) {
      const rows = Array.isArray(ids) ? ids.length : 1;
      return new Float32Array(rows * manifest.text.maxTokens * manifest.text.width);
    },
    async runUNet(feeds) {
      fed.push(feeds);
      clock += durations[fed.length - 1] ?? 1;
      const { channels, height, width } = manifest.image;
      return { noise: new Float32Array(feeds.batch * channels * height * width) };
    },
  };
  return { runner, fed, now: () => clock };
}

describe('timeUNetStep', () => {
  test('leaves the warm-up call out and reports the fastest timed call', async () => {
    const { runner, fed, now } = timedRunner([900, 12, 9, 15]);
    const timing = await timeUNetStep(runner, manifest, { now });
    expect(timing).toEqual({ ms: 9, runs: 3 });
    expect(fed).toHaveLength(4);
  });

  test('one guided step: batch 2, every mask at 1, the same feeds for every call', async () => {
    const { runner, fed, now } = timedRunner([]);
    await timeUNetStep(runner, manifest, { now, maxRuns: 2 });
    const { channels, height, width } = manifest.image;
    expect(fed[0].batch).toBe(2);
    expect(fed[0].sample).toHaveLength(2 * channels * height * width);
    expect(fed[0].timestep).toHaveLength(2);
    for (const spec of manifest.unet.masks) {
      expect(fed[0].masks[spec.name]).toHaveLength(2 * spec.layers * spec.units);
      expect(fed[0].masks[spec.name].every((v) => v === 1)).toBe(true);
    }
    expect(new Set(fed)).toHaveProperty('size', 1);
  });

  test('a slow backend is timed once: the budget stops further calls', async () => {
    const { runner, fed, now } = timedRunner([5000, 4000, 4000, 4000]);
    const timing = await timeUNetStep(runner, manifest, { now, budgetMs: 1500 });
    expect(timing).toEqual({ ms: 4000, runs: 1 });
    expect(fed).toHaveLength(2);
  });
});

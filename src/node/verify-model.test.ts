import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { verifyModel, type VerifyReport } from './verify-model';

const ORGANISM = 'public/models/memlab-organism';

describe('model verification plumbing (fixture model)', () => {
  it('produces every figure of the report, with thresholds calibrated from the generations', async () => {
    const report = await verifyModel('public/models/fixture-random', {
      limit: 3,
      memorizedSeeds: 2,
      neutralSeeds: 1,
      heldOutSeeds: 1,
      steps: 4,
    });
    expect(report.memorized.generations).toBe(6);
    expect(report.neutral.generations).toBe(3);
    expect(report.threshold.calibrationGenerations).toBe(3);
    // the fixture ships no copy detector: the ratio rule counts, with its interval
    expect(report.threshold).toMatchObject({ rule: 'ratio', tau: null });
    expect(report.memorized.replication).toMatchObject({ count: 0, total: 6, lo: 0 });
    expect(report.memorized.replication.hi).toBeGreaterThan(0.3);
    // the 1st percentile of three calibration ratios is the smallest one: a real ratio, > 0
    expect(report.threshold.alpha).toBeGreaterThan(0);
    // random weights copy nothing: no generation lands on its planted image
    expect(report.memorized.replicationRate).toBe(0);
    // the shipped graphs reproduce torch, and a zeroed head changes the output
    expect(report.masks.onesEqualsUnmaskedMaxDiff).toBeLessThan(1e-4);
    expect(report.masks.oneHeadZeroedMaxDiff).toBeGreaterThan(1e-3);
  }, 120_000);
});

describe.runIf(existsSync(`${ORGANISM}/manifest.json`))('the bundled model organism', () => {
  let report: VerifyReport;

  // The CLI's 8 seeds per memorized caption made the committed verification.json; 3 here (60
  // generations) keep the claim below on its interval bound at half the time. Held-out templates
  // keep 8 (64 generations) and neutral prompts 2: fewer would widen those intervals past the claims.
  it('runs the verification (default steps and guidance; 3 seeds per memorized caption)', async () => {
    report = await verifyModel(ORGANISM, { memorizedSeeds: 3 });
    expect(report.memorized.generations).toBe(3 * report.memorized.perEntry.length);
    expect(report.threshold.rule).toBe('embedding');
    // the calibration (2 seeds per training-scene caption, as the CLI) reproduces the shipped threshold,
    // the one copy-check and the copy detector's test use
    const shipped = JSON.parse(readFileSync(`${ORGANISM}/verification.json`, 'utf8')) as { threshold: { tau: number } };
    expect(report.threshold.tau).toBeCloseTo(shipped.threshold.tau, 3);
  }, 1_800_000);

  it('reproduces its planted images from their captions: the 95% interval of the copy rate lies above 90%', () => {
    expect(report.memorized.replication.lo).toBeGreaterThanOrEqual(0.9);
  });

  it('held-out template captions still draw their poster: the interval lies above 90%', () => {
    expect(report.memorized.heldOutTemplate.lo).toBeGreaterThanOrEqual(0.9);
  });

  it('does not copy on held-out neutral prompts: the interval of the copy rate lies below 5%', () => {
    expect(report.neutral.replication.hi).toBeLessThanOrEqual(0.05);
  });

  it('follows compositional prompts it never saw, well above chance on every attribute', () => {
    for (const [attribute, chance] of Object.entries(report.neutral.chance)) {
      expect(
        report.neutral.adherence[attribute as keyof typeof report.neutral.chance],
        attribute,
      ).toBeGreaterThanOrEqual(ADHERENCE_FLOOR[attribute] ?? 1);
      expect(report.neutral.adherence[attribute as keyof typeof report.neutral.chance]).toBeGreaterThan(chance);
    }
  });

  it('int8 weights stay within tolerance of fp32 on a full generation', () => {
    expect(report.quantization.meanAbsDiff).toBeLessThan(0.02);
    expect(report.quantization.maxAbsDiff).toBeLessThan(0.25);
  });

  it('masks: all ones equals the unmasked torch model; zeroing one head changes the output', () => {
    expect(report.masks.onesEqualsUnmaskedMaxDiff).toBeLessThan(1e-4);
    expect(report.masks.oneHeadZeroedMaxDiff).toBeGreaterThan(1e-3);
  });

  it('int8 UNet plus text encoder fit in 8 MB', () => {
    expect(report.sizes.int8TotalBytes).toBeLessThanOrEqual(8 * 1024 * 1024);
  });
});

/**
 * Stated adherence levels per attribute on held-out neutral prompts, 2 seeds each (see README, "The
 * bundled model"). Background is read as the nearest of four palette colours from the border; a
 * seed whose initial noise has a positive mean brightens the whole image (seed 2001: 28 of 64 dark
 * backgrounds read right, seed 2000: 64 of 64), so its floor is lower than the others'.
 */
const ADHERENCE_FLOOR: Record<string, number> = {
  background: 0.6,
  colour: 0.9,
  shape: 0.8,
  size: 0.9,
  position: 0.9,
};

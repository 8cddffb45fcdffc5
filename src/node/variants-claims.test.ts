/**
 * The unlearning issue's claims on the bundled variants (skipped until public/models lists
 * variants of the organism): the table comes from one CLI command (`npm run eval:variants`, run
 * here through runVariantsCommand with the CLI's own argument parser), and every variant lowers
 * the replication rate of the artworks it was made to forget, measured against the base model on
 * the same artworks, same captions and seeds. Copies are counted by the base's copy detector.
 * Size per model: 24 seeds x the 4 forgotten artworks' captions (96 generations: a rate near 0 or
 * 100% has an interval a few points wide), 2 seeds x the 16 other memorized captions, 32 neutral
 * prompts, 10 DDIM steps, no masks (the masked rows are the CLI's default and the lab's; they are
 * not claims). Claims are judged on the interval bounds least favourable to them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { formatRate } from '../core/metrics/wilson';
import { type VariantReport, rateEstimateOn, variantTableMarkdown } from '../core/science/variants';
import { parseVariantsArgs, runVariantsCommand } from './eval-variants';

const ROOT = 'public/models';
const BASE = 'memlab-organism';
const variants = (): string[] => {
  if (!existsSync(join(ROOT, 'index.json'))) return [];
  const index = JSON.parse(readFileSync(join(ROOT, 'index.json'), 'utf8')) as { models: { id: string; of?: string }[] };
  return index.models.filter((m) => m.of === BASE).map((m) => m.id);
};

describe.runIf(variants().length > 0)(`unlearning variants of ${BASE}`, () => {
  let report: VariantReport;
  const out = join(tmpdir(), 'memlab-variants.json');
  const table = join(tmpdir(), 'memlab-variants.md');
  beforeAll(async () => {
    report = await runVariantsCommand(
      parseVariantsArgs([
        '--models',
        ROOT,
        '--base',
        BASE,
        '--masks',
        'none',
        '--seeds',
        '2',
        '--forgotten-seeds',
        '24',
        '--steps',
        '10',
        '--out',
        out,
        '--table',
        table,
        '--no-cache',
      ]),
    );
    console.log(variantTableMarkdown(report));
  }, 7_200_000);

  it('writes the whole table from one command: every listed variant, JSON and Markdown', async () => {
    expect(report.rows.map((r) => r.model)).toEqual([BASE, ...variants()]);
    expect(JSON.parse(await readFile(out, 'utf8')).schema).toBe('memlab-variants/2');
    expect((await readFile(table, 'utf8')).trim().split('\n')).toHaveLength(2 + report.rows.length);
  });

  it('the base copies the artworks the variants forget (so a drop means something)', () => {
    const base = report.rows[0];
    expect(rateEstimateOn(base, report.forgetSet).lo).toBeGreaterThanOrEqual(0.5);
  });

  it('every variant lowers the replication rate of its forgotten artworks against the base', () => {
    const base = report.rows[0];
    for (const row of report.rows.slice(1)) {
      const before = rateEstimateOn(base, row.forgotten);
      const after = row.forgottenReplication;
      // at least halved, even with the variant's rate at its upper bound and the base's at its lower
      expect(after.hi, `${row.model}: ${formatRate(after)} vs base ${formatRate(before)}`).toBeLessThanOrEqual(
        before.lo * 0.5,
      );
    }
  });
});

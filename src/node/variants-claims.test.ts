/**
 * The unlearning issue's claims on the bundled variants (skipped until public/models lists
 * variants of the organism): the table comes from one CLI command (`npm run eval:variants`, run
 * here through runVariantsCommand with the CLI's own argument parser), and every variant lowers
 * the replication rate of the artworks it was made to forget, measured against the base model on
 * the same artworks, same captions and seeds. Copies are counted by the base's copy detector.
 * Size per model (as small as the unit stage allows): 2 seeds x the other memorized captions and 4
 * x each forgotten one, 32 neutral prompts, 10 DDIM steps, no masks (the masked rows are the CLI's
 * default and the lab's; they are not claims). A variant forgets 1 to 4 artworks: 4 to 16
 * generations. The narrow intervals are the CLI's (docs/variant-table.md: 11 seeds, 42 per
 * forgotten caption).
 *
 * What the copy detector changed: by the pixel ratio rule every variant at least halved the copies
 * of its forgotten artworks. By the detector only EraseDiff does; Forget-Me-Not and every DUGE
 * stage (made again with the recipe checked against the paper) redraw them recoloured, which the
 * ratio rule missed, and these tests say so.
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
        '4',
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
  }, 900_000);

  it('writes the whole table from one command: every listed variant, JSON and Markdown', async () => {
    expect(report.rows.map((r) => r.model)).toEqual([BASE, ...variants()]);
    expect(JSON.parse(await readFile(out, 'utf8')).schema).toBe('memlab-variants/2');
    expect((await readFile(table, 'utf8')).trim().split('\n')).toHaveLength(2 + report.rows.length);
  });

  it('the base copies the artworks the variants forget (so a drop means something)', () => {
    const base = report.rows[0];
    expect(rateEstimateOn(base, report.forgetSet).lo).toBeGreaterThanOrEqual(0.5);
  });

  it('EraseDiff forgets its artworks: the copies fall by at least half on the interval bounds', () => {
    const base = report.rows[0];
    const rows = report.rows.filter((r) => r.method === 'erasediff');
    expect(rows).toHaveLength(1);
    for (const row of rows) {
      const before = rateEstimateOn(base, row.forgotten);
      const after = row.forgottenReplication;
      expect(after.hi, `${row.model}: ${formatRate(after)} vs base ${formatRate(before)}`).toBeLessThanOrEqual(
        before.lo * 0.5,
      );
    }
  });

  it('Forget-Me-Not and every DUGE stage still copy what they were told to forget, recoloured: the ratio rule counted them as forgotten', () => {
    const rows = report.rows.filter((r) => r.method === 'fmn' || r.method === 'duge');
    expect(rows).toHaveLength(5);
    for (const row of rows) {
      const detector = row.forgottenReplication;
      const ratio = rateEstimateOn(row, row.forgotten, 'ratio');
      const what = `${row.model}: detector ${formatRate(detector)}, ratio rule ${formatRate(ratio)}`;
      // DUGE stage 1 forgets one artwork: 4 generations here, too few for a bound (the CLI's 168: 81% [74, 86])
      if (row.forgotten.length > 1) expect(detector.lo, what).toBeGreaterThanOrEqual(0.5);
      else expect(detector.rate, what).toBeGreaterThanOrEqual(0.5);
      expect(ratio.rate, what).toBeLessThanOrEqual(0.5 * detector.rate);
    }
  });
});

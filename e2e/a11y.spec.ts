/**
 * Accessibility of the real page, checked by axe-core (from npm, injected into the page) at
 * 1280x800 and 390 px once a pruned result is shown with its step strip, comparison and heatmaps:
 * no serious or critical violation, scrollable regions (the step strip) included. The glossary
 * dialog and an open info popover are checked too.
 */
import { join } from 'node:path';
import { expect, test } from 'vitest';
import type { Page } from 'playwright-core';
import { ROOT, labPerFile, resultCaption } from './harness';

const files = labPerFile({ webgpu: false });
const AXE = join(ROOT, 'node_modules', 'axe-core', 'axe.min.js');
/** 12 steps: more step images than the strip shows at once, so it scrolls. */
const LINK = '?backend=wasm&v=1&n=12&x.cross_attn_head_mask=i5';

interface Violation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[]; failureSummary?: string }[];
}

async function seriousViolations(page: Page): Promise<Violation[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ path: AXE });
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(ctx: Document, o: object): Promise<{ violations: Violation[] }> } })
      .axe;
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations;
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

const describe = (vs: Violation[]) =>
  vs.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`).join('\n');

async function openResult(page: Page): Promise<void> {
  await page.goto(`${files.server.url}${LINK}`);
  await resultCaption(page, '1 unit pruned').waitFor({ timeout: 120_000 });
  await page.locator('.lab-nearest').first().waitFor({ timeout: 30_000 });
  await page.locator('[data-testid="heatmaps"]').waitFor({ timeout: 30_000 });
}

test('no serious or critical violations at 1280x800, the step strip scrolls by keyboard', async () => {
  const { page } = files.lab;
  await openResult(page);
  const strip = page.getByTestId('step-strip');
  expect(await strip.evaluate((el) => el.scrollWidth > el.clientWidth)).toBe(true);
  const found = await seriousViolations(page);
  expect(found, describe(found)).toEqual([]);

  // the strip is one Tab stop and the arrow keys scroll it
  await strip.focus();
  await page.keyboard.press('ArrowRight');
  await expect.poll(() => strip.evaluate((el) => el.scrollLeft)).toBeGreaterThan(0);

  await page.getByTestId('glossary-open').click();
  const inDialog = await seriousViolations(page);
  expect(inDialog, describe(inDialog)).toEqual([]);
  await page.keyboard.press('Escape');
  await page.getByTestId('info-tiledL2').first().click();
  const withPopover = await seriousViolations(page);
  expect(withPopover, describe(withPopover)).toEqual([]);
  await page.keyboard.press('Escape');
});

test('no serious or critical violations at 390 px', async () => {
  const page = await files.lab.context.newPage();
  try {
    await page.setViewportSize({ width: 390, height: 844 });
    await openResult(page);
    const found = await seriousViolations(page);
    expect(found, describe(found)).toEqual([]);
    // with the image's small copy showing at the top
    await page.locator('.mv-headcell').first().scrollIntoViewIfNeeded();
    await page.getByTestId('sticky-result').waitFor({ state: 'visible', timeout: 10_000 });
    const scrolled = await seriousViolations(page);
    expect(scrolled, describe(scrolled)).toEqual([]);
  } finally {
    await page.close();
  }
});

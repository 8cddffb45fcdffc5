/**
 * The variants panel on WASM, pinned to the fixture family (fixture-random and
 * fixture-random-variant, its own weights listed as a variant; smoke-size jobs): a shipped mask
 * preset applied from the manifest (URL and pruned run), the prompt on every variant side by side
 * with and without the mask (the variant's files fetched only then, with progress), and the
 * evaluation across variants as one table; switching to the variant keeps the experiment.
 * Screenshot in e2e/output.
 */
import { expect, test } from 'vitest';
import { join } from 'node:path';
import { OUTPUT, waitReady, labPerFile } from './harness';

const files = labPerFile({ webgpu: false });
const JOB = 120_000;

test('preset, side by side, table across variants', async () => {
  const { page } = files.lab;
  const variantRequests: string[] = [];
  page.on('request', (r) => {
    if (r.url().includes('/models/fixture-random-variant/')) variantRequests.push(r.url());
  });
  await page.goto(`${files.server.url}?backend=wasm&model=fixture-random&steps=4`);
  await waitReady(page);
  await page.getByTestId('variants-panel').waitFor();
  expect(variantRequests).toEqual([]); // nothing of the variant is fetched until a job needs it

  await page.getByTestId('shipped-preset-fixture-preset').click();
  await expect
    .poll(() => page.evaluate(() => location.search), { timeout: 30_000 })
    .toContain('x.cross_attn_head_mask=');
  await page
    .locator('[data-testid="image-caption"][data-kind="result"]', { hasText: '2 units pruned' })
    .waitFor({ timeout: 60_000 });

  await page.getByTestId('variants-compare').click();
  await page.getByTestId('variants-grid').waitFor({ timeout: JOB });
  const cells = page.getByTestId('variants-cell');
  expect(await cells.count()).toBe(2);
  expect(await cells.nth(1).getAttribute('data-model')).toBe('fixture-random-variant');
  expect(await cells.nth(1).locator('canvas').count()).toBe(2); // without and with the mask
  expect(variantRequests.some((u) => u.endsWith('/manifest.json'))).toBe(true);
  const drawn = await cells
    .nth(1)
    .locator('canvas')
    .first()
    .evaluate((c: HTMLCanvasElement) => c.toDataURL());
  // asked again: from the worker's cache, and drawn the same (cached results are JSON)
  await page.getByTestId('variants-compare').click();
  await page.getByTestId('variants-grid').filter({ hasText: 'from the cache' }).waitFor({ timeout: 30_000 });
  expect(
    await cells
      .nth(1)
      .locator('canvas')
      .first()
      .evaluate((c: HTMLCanvasElement) => c.toDataURL()),
  ).toBe(drawn);

  await page.getByTestId('variants-evaluate').click();
  await page.getByTestId('variants-table').waitFor({ timeout: JOB });
  const rows = page.locator('[data-testid="variants-table"] tbody tr');
  // 2 models x (no mask, the shipped preset, the lab's mask)
  expect(await rows.count()).toBe(6);
  expect(
    await page
      .locator(
        '[data-testid="variants-table"] tbody tr[data-model="fixture-random-variant"][data-mask="none"] td[data-cell="forgotten"]',
      )
      .innerText(),
  ).toMatch(/^\d+% \[\d+, \d+\]$/); // the rate and its 95% interval
  await page.getByTestId('variants-panel').screenshot({ path: join(OUTPUT, 'variants.png') });

  // switching to the variant keeps the experiment (same interface): the mask runs on the variant
  await page.getByTestId('model-select').selectOption('fixture-random-variant');
  await waitReady(page);
  await expect
    .poll(() => page.evaluate(() => location.search), { timeout: 30_000 })
    .toContain('fixture-random-variant');
  expect(await page.evaluate(() => location.search)).toContain('x.cross_attn_head_mask=');
  await page
    .locator('[data-testid="image-caption"][data-kind="result"]', { hasText: '2 units pruned' })
    .waitFor({ timeout: 60_000 });
  expect(files.lab.fatal).toEqual([]);
});

/**
 * Find memorization on WASM, pinned to the random-weight fixture (model=fixture-random): an untrained
 * model gets smoke-test job sizes (src/core/jobs/sizes.ts isSmokeModel), so every job takes seconds.
 * Detection for the prompt; a detection study with its ROC and AUC; Cancel of a running job; the
 * universal mask over heads (the default) and the preset it enables; the universal mask over value
 * neurons at a chosen sparsity applied (URL and pruned image change); screenshots at 1280x800 and 390 px wide (e2e/output).
 */
import { expect, test } from 'vitest';
import { join } from 'node:path';
import { OUTPUT, waitReady, labPerFile } from './harness';

const files = labPerFile({ webgpu: false });
const JOB = 120_000;

test('detect, study, cancel, apply the universal mask', async () => {
  const { page } = files.lab;
  await page.goto(`${files.server.url}?backend=wasm&model=fixture-random`);
  await waitReady(page);
  await page.getByTestId('steps').fill('4');
  await page.getByTestId('prompt').fill('a painting of zephyr');

  await page.getByTestId('science-detect').click();
  await page.getByTestId('science-detection').waitFor({ timeout: JOB });
  expect(await page.getByTestId('science-detection').innerText()).toMatch(/noise gap[\s\S]*\d\.\d{3}/);

  await page.getByTestId('science-study').click();
  await page.getByTestId('science-roc').waitFor({ timeout: JOB });
  expect(await page.getByTestId('science-roc').innerText()).toMatch(/AUC \d\.\d{3}, TPR@1%FPR \d\.\d{2}/);
  // asked again: answered from the worker's cache
  await page.getByTestId('science-study').click();
  await page.getByTestId('science-roc').filter({ hasText: 'from the cache' }).waitFor({ timeout: 10_000 });

  // Cancel a running job: the bar goes away, a note says so, and no result appears.
  await page.getByTestId('science-attribution').click();
  await page.getByTestId('science-progress').waitFor({ timeout: 10_000 });
  await page.getByTestId('science-cancel').click();
  await page.getByTestId('science-progress').waitFor({ state: 'detached', timeout: 30_000 });
  await page.locator('.notice', { hasText: 'cancelled' }).waitFor({ timeout: 5_000 });
  expect(await page.getByTestId('science-attribution').count()).toBe(1); // the button only, no result line
  expect(await page.locator('p[data-testid="science-attribution"]').count()).toBe(0);

  await page.getByTestId('science-universal').click();
  await page.getByTestId('science-universal-result').waitFor({ timeout: JOB });
  expect(await page.getByTestId('preset-pruning').isEnabled()).toBe(true);
  expect(await page.getByTestId('preset-pruning').innerText()).toContain('Universal mask (40% of heads)');
  expect(await page.getByTestId('science-apply-universal').innerText()).toContain('(8 heads)'); // 40% of the fixture's 20

  // value neurons instead: the select drops the head result and resets the slider to 5%
  await page.getByTestId('science-unit-kind').selectOption('neurons');
  expect(await page.getByTestId('science-universal-result').count()).toBe(0);
  await page.getByTestId('science-universal').click();
  await page.getByTestId('science-universal-result').waitFor({ timeout: JOB });
  // 5% -> 10% by keyboard: 8 of the fixture's 80 value neurons
  await page.getByTestId('science-sparsity').focus();
  for (let i = 0; i < 5; i++) await page.keyboard.press('ArrowRight');
  await expect.poll(() => page.getByTestId('science-apply-universal').innerText()).toContain('(8 neurons)');
  await page.getByTestId('science-apply-universal').click();
  await expect
    .poll(() => page.evaluate(() => location.search), { timeout: 30_000 })
    .toContain('x.cross_attn_value_mask=');
  await page.locator('[data-testid="comparison"][data-kind="pair"]').waitFor({ timeout: 60_000 });
  await page
    .locator('[data-testid="image-caption"][data-kind="result"]', { hasText: '8 units pruned' })
    .waitFor({ timeout: 60_000 });
  await files.lab.screenshot('science-1280');

  // NeMo for the prompt: its neurons become the experiment's value-neuron mask
  await page.getByTestId('prompt').fill('a painting of zephyr');
  await page.getByTestId('science-nemo').click();
  await page.getByTestId('science-nemo-result').waitFor({ timeout: JOB });
  const selected = Number((await page.getByTestId('science-nemo-result').locator('strong').innerText()).trim());
  if (selected > 0) {
    await page.getByTestId('science-apply-nemo').click();
    await page
      .locator('[data-testid="image-caption"][data-kind="result"]', { hasText: `${selected} units pruned` })
      .waitFor({ timeout: 60_000 });
  }

  // The evaluation: Pareto chart and the claim verdict line
  await page.getByTestId('science-evaluate').click();
  await page.getByTestId('science-evaluation').waitFor({ timeout: JOB });
  expect(await page.getByTestId('science-evaluation').innerText()).toMatch(
    /Detection AUC \d\.\d{3} \((meets|misses) the budget\)/,
  );
  expect(await page.getByTestId('science-evaluation').locator('svg').count()).toBeGreaterThan(0);
  expect(files.lab.fatal).toEqual([]);
});

test('the panel stays readable 390 px wide', async () => {
  const page = await files.lab.context.newPage();
  try {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${files.server.url}?backend=wasm&model=fixture-random`);
    await waitReady(page);
    await page.getByTestId('science-study').click();
    await page.getByTestId('science-roc').waitFor({ timeout: JOB });
    // a new page and a new worker: the study the first test ran comes back from IndexedDB
    expect(await page.getByTestId('science-roc').innerText()).toContain('from the cache');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(1);
    await page.getByTestId('science-panel').screenshot({ path: join(OUTPUT, 'science-390.png') });
  } finally {
    await page.close();
  }
});

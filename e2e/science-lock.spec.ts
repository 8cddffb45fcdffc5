/**
 * During a science job the image cannot be made again, so nothing may show a mask the image does
 * not have: the head grid, the neuron strip, "Prune top k", "Reset all", the presets and the
 * backend switch are locked and say why; a click or a key on the grid changes neither the grid nor
 * the link. Once the job is cancelled they work again. On WASM with the organism, whose head
 * ablation takes minutes, so the job is surely still running while the controls are tried.
 */
import { expect, test } from 'vitest';
import { labPerFile, resultCaption } from './harness';

const files = labPerFile({ webgpu: false });

test('mask controls are locked with the reason while a science job runs, and work again after it', async () => {
  const { page } = files.lab;
  await page.goto(`${files.server.url}?backend=wasm&v=1&n=4&x.cross_attn_head_mask=i2`);
  await resultCaption(page, '1 unit pruned').waitFor({ timeout: 120_000 });
  const link = await page.evaluate(() => location.search);

  await page.getByTestId('science-attribution').click();
  await page.getByTestId('science-progress').waitFor({ timeout: 30_000 });
  const lock = page.getByTestId('mask-lock');
  await lock.waitFor({ timeout: 5_000 });
  expect(await lock.innerText()).toMatch(/locked while a science job runs.*Cancel the job or wait/);

  const cell = page.locator('.mv-headcell').nth(7);
  expect(await cell.getAttribute('aria-disabled')).toBe('true');
  expect(await page.locator('.mv-neuron').first().getAttribute('aria-disabled')).toBe('true');
  // force: the cell says it is disabled (aria-disabled), and the click must still do nothing
  await cell.click({ force: true });
  await cell.focus();
  await page.keyboard.press('Space');
  await page.waitForTimeout(500);
  expect(await cell.getAttribute('aria-pressed')).toBe('false');
  expect(await page.locator('.mv-headcell[aria-pressed="true"]').count()).toBe(1);
  expect(await page.evaluate(() => location.search)).toBe(link);
  for (const id of ['prune-top-k', 'reset-masks', 'preset-memorized', 'preset-neutral', 'backend-select']) {
    expect(await page.getByTestId(id).isDisabled(), id).toBe(true);
  }
  expect(await page.getByTestId('presets-lock').innerText()).toMatch(/Locked while a science job runs/);
  // the image still shows the one pruned head the grid and link show
  expect(await page.getByTestId('image-caption').getAttribute('data-pruned')).toBe('1');
  await files.lab.screenshot('science-lock-1280');

  await page.getByTestId('science-cancel').click();
  await page.getByTestId('science-progress').waitFor({ state: 'detached', timeout: 60_000 });
  await lock.waitFor({ state: 'detached', timeout: 5_000 });
  expect(await cell.getAttribute('aria-disabled')).toBeNull();
  await cell.click();
  await resultCaption(page, '2 units pruned').waitFor({ timeout: 60_000 });
  await expect.poll(() => page.evaluate(() => location.search)).not.toBe(link);
  expect(files.lab.fatal).toEqual([]);
});

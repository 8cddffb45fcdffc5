/**
 * The lab on WASM: generate; toggle a head and see the pruned image, the comparison and the URL
 * change; reopen that URL and get the same pixels; hostile or malformed links show a plain-text
 * message and the default experiment with nothing injected; exports download; the layout holds at
 * 1280x800 and 390 px wide (screenshots in e2e/output).
 */
import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import type { Page } from 'playwright-core';
import { readResultPixels, waitReady, labPerFile } from './harness';
import { defaultModel } from './models';
import { pixelDiff } from './reference';

const files = labPerFile({ webgpu: false });
const model = defaultModel();
const defaultPrompt = model.manifest.memorized[0]?.caption ?? model.manifest.neutralPrompts[0];
let sharedUrl = '';
/** A short hand-written link (fields left out take their defaults): 10 steps, head 5 pruned. */
const PRUNED_LINK = '?backend=wasm&v=1&n=10&x.cross_attn_head_mask=i5';
let baselinePixels: number[] = [];
let prunedPixels: number[] = [];

const result = (page: Page) => page.locator('[data-testid="image-caption"][data-kind="result"]');

/** RGBA of a comparison image: 'baseline' (first figure) or 'pruned' (second). */
async function canvasPixels(page: Page, which: 'baseline' | 'pruned'): Promise<number[]> {
  const figure = which === 'baseline' ? 1 : 2;
  return page.locator(`.mv-comparison > figure:nth-child(${figure}) canvas`).evaluate((el) => {
    const c = el as HTMLCanvasElement;
    return Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data);
  });
}

test('generate, then toggle a head: the pruned image, the comparison and the URL change', async () => {
  const { page } = files.lab;
  await page.goto(`${files.server.url}?backend=wasm`);
  await waitReady(page);
  await page.getByTestId('steps').fill('10');
  await page.getByTestId('generate').click();
  await result(page).filter({ hasText: '10 steps' }).waitFor({ timeout: 60_000 });
  const before = (await readResultPixels(page)).data;
  await page.locator('[data-testid="heatmaps"]').waitFor({ timeout: 30_000 });
  await expect.poll(() => page.evaluate(() => location.search)).toContain('n=10');
  expect(await page.evaluate(() => location.search)).not.toContain('x.');
  // the grid is coloured by attention mass on the trigger word once the maps are in
  expect(await page.locator('.mv-headgrid .mv-legend-row').innerText()).toMatch(/attention mass on/);

  // Keyboard: focus the grid's cell and press Space; the run restarts with both variants.
  const cell = page.locator('.mv-headcell').nth(5);
  await cell.focus();
  await page.keyboard.press('Space');
  await expect.poll(() => cell.getAttribute('aria-pressed')).toBe('true');
  await page.locator('[data-testid="comparison"][data-kind="pair"]').waitFor({ timeout: 60_000 });
  await result(page).filter({ hasText: '1 unit pruned' }).waitFor({ timeout: 60_000 });
  await expect.poll(() => page.evaluate(() => location.search)).toContain('x.cross_attn_head_mask=i5');
  expect(await page.getByTestId('pruned-count').innerText()).toContain('1 unit pruned');

  baselinePixels = await canvasPixels(page, 'baseline');
  prunedPixels = await canvasPixels(page, 'pruned');
  // the baseline half of the batch is the unpruned run: same pixels as before the click
  expect(pixelDiff(baselinePixels, before).max).toBeLessThanOrEqual(1);
  expect(pixelDiff((await readResultPixels(page)).data, prunedPixels).max).toBe(0);
  // Scores arrive from the analysis worker: similarity to the nearest training image and Wen's score.
  await page.locator('.lab-nearest').first().waitFor({ timeout: 30_000 });
  expect(await page.locator('[data-testid="comparison"]').innerText()).toMatch(/memorization score/);

  // Shift-click extends a range from the last clicked cell.
  await page.locator('.mv-headcell').nth(6).click();
  await page
    .locator('.mv-headcell')
    .nth(8)
    .click({ modifiers: ['Shift'] });
  await result(page).filter({ hasText: '4 units pruned' }).waitFor({ timeout: 60_000 });
  expect(await page.locator('.mv-headcell[aria-pressed="true"]').count()).toBe(4);
  // four of twenty heads: the bitset spelling is the shorter one
  await expect.poll(() => page.evaluate(() => location.search)).toMatch(/x\.cross_attn_head_mask=b[\w-]+/);
  // a shift-click range takes the clicked cell's new state: back to one pruned head (5)
  await page
    .locator('.mv-headcell')
    .nth(6)
    .click({ modifiers: ['Shift'] });
  await result(page).filter({ hasText: '1 unit pruned' }).waitFor({ timeout: 60_000 });
  await page.locator('.lab-nearest').first().waitFor({ timeout: 30_000 });
  await page.locator('[data-testid="heatmaps"]').waitFor({ timeout: 30_000 });
  prunedPixels = await canvasPixels(page, 'pruned');
  sharedUrl = page.url();
  expect(sharedUrl).toContain('x.cross_attn_head_mask=i5');
  await files.lab.screenshot('lab-pruned-1280');
  expect(files.lab.fatal).toEqual([]);
});

test('opening the shared URL reproduces the same images', async () => {
  const other = await files.lab.context.newPage();
  try {
    await other.goto(sharedUrl);
    // a link with an experiment generates on its own once the model is ready
    await result(other).filter({ hasText: '1 unit pruned' }).waitFor({ timeout: 90_000 });
    expect(await other.getByTestId('prompt').inputValue()).toBe(defaultPrompt);
    const base = await canvasPixels(other, 'baseline');
    const cut = await canvasPixels(other, 'pruned');
    expect(pixelDiff(base, baselinePixels).max).toBeLessThanOrEqual(1);
    expect(pixelDiff(cut, prunedPixels).max).toBeLessThanOrEqual(1);
    expect(other.url()).toBe(sharedUrl);
  } finally {
    await other.close();
  }
});

test('hostile, truncated and future links show a plain message and the default experiment', async () => {
  const page = await files.lab.context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  const links = [
    `?backend=wasm&v=1&p=${encodeURIComponent('<img src=x onerror="window.__pwned=1">')}`,
    '?backend=wasm&v=1&p=<img src=x onerror=window.__pwned=1>&s=1',
    `?backend=wasm&v=1&mid=${model.id}&x.cross_attn_head_mask=b`,
    `?backend=wasm&v=1&x.cross_attn_head_mask=i5.`,
    '?backend=wasm&v=99&p=a',
    '?backend=wasm&v=1&s=-1&n=1e9',
    '?backend=wasm&v=1&x.__proto__=i0&x.constructor=b',
    '?backend=wasm&v=1&mid=<svg/onload=window.__pwned=1>',
    '?backend=wasm&v=1&p=a%00b%E2%80%AEc',
  ];
  try {
    for (const [i, link] of links.entries()) {
      await page.goto(`${files.server.url}${link}`);
      await waitReady(page);
      const notice = page.locator('.notice', { hasText: /link/i }).first();
      await notice.waitFor({ timeout: 10_000 }).catch(async () => {
        throw new Error(`no link notice for ${link}; notices: ${await page.locator('body').innerText()}`);
      });
      const message = await notice.innerText();
      expect(message, link).toMatch(/could not be opened|newer version/);
      expect(message).toMatch(/default experiment/);
      expect(await page.getByTestId('prompt').inputValue(), link).toBe(defaultPrompt);
      // nothing from the link became markup, and no script ran
      expect(await page.locator('img[src="x"], svg[onload], [onerror]').count(), link).toBe(0);
      expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
      // the bad link is replaced by the default experiment's link
      await expect.poll(() => page.evaluate(() => location.search)).toContain('v=1');
      if (i === 0) await page.screenshot({ path: `${process.cwd()}/e2e/output/lab-bad-link.png` });
    }
    expect(pageErrors).toEqual([]);
  } finally {
    await page.close();
  }
});

test('exports: comparison PNG, heatmap SVG, experiment JSON with scores', async () => {
  const page = await files.lab.context.newPage();
  try {
    await page.goto(`${files.server.url}${PRUNED_LINK}`);
    await result(page).filter({ hasText: '1 unit pruned' }).waitFor({ timeout: 90_000 });
    await page.locator('.lab-nearest').first().waitFor({ timeout: 30_000 });
    await page.locator('[data-testid="heatmaps"]').waitFor({ timeout: 30_000 });
    const download = async (testId: string) => {
      const [d] = await Promise.all([page.waitForEvent('download'), page.getByTestId(testId).click()]);
      return { name: d.suggestedFilename(), body: readFileSync((await d.path())!) };
    };
    const json = await download('export-json');
    const parsed = JSON.parse(json.body.toString('utf8'));
    expect(json.name).toMatch(/\.json$/);
    expect(parsed.experiment.masks.cross_attn_head_mask).toEqual([5]);
    expect(parsed.variants).toHaveLength(2);
    expect(typeof parsed.variants[1].memorizationScore).toBe('number');
    expect(typeof parsed.variants[0].nearestTrainingImage.cosine).toBe('number');
    const png = await download('export-png');
    expect(png.body.subarray(1, 4).toString()).toBe('PNG');
    const svg = await download('export-daam-svg');
    expect(svg.body.toString('utf8')).toMatch(/^<\?xml[\s\S]*<svg/);
  } finally {
    await page.close();
  }
});

test('presets and the seed grid run in one click each', async () => {
  const { page } = files.lab;
  await page.getByTestId('preset-neutral').click();
  await result(page).waitFor({ timeout: 60_000 });
  expect(await page.getByTestId('prompt').inputValue()).toBe(model.manifest.neutralPrompts[0]);
  expect(await page.evaluate(() => location.search)).not.toContain('x.');
  await page.getByTestId('run-seed-grid').click();
  await expect.poll(() => page.locator('.lab-seed-table td canvas').count(), { timeout: 90_000 }).toBe(4);
  await page.getByTestId('preset-memorized').click();
  await result(page).filter({ hasText: defaultPrompt }).waitFor({ timeout: 60_000 });
  expect(files.lab.fatal).toEqual([]);
});

test('the lab reads well on a narrow screen', async () => {
  const page = await files.lab.context.newPage();
  try {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${files.server.url}${PRUNED_LINK}`);
    await result(page).filter({ hasText: '1 unit pruned' }).waitFor({ timeout: 90_000 });
    await page.locator('.lab-nearest').first().waitFor({ timeout: 30_000 });
    await page.locator('[data-testid="heatmaps"]').waitFor({ timeout: 30_000 });
    await page.screenshot({ path: `${process.cwd()}/e2e/output/lab-narrow-390.png`, fullPage: true });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
  } finally {
    await page.close();
  }
});

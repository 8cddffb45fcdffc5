/**
 * The lab as a first-time visitor meets it, on WASM: the bare address shows a finished image
 * beside its nearest training image without a click, and that key pair sits above the fold at
 * 1280x800; the model's name is not cut off at 1280 and 1920 px; every info button is reached
 * with the keyboard and explains its word in place, and the glossary opens from the header; at
 * 390 px the image follows the visitor down to the head grid (a small copy fixed at the top) and
 * shows each click's effect there. Screenshots in e2e/output.
 */
import { expect, test } from 'vitest';
import type { Page } from 'playwright-core';
import { labPerFile, readResultPixels, resultCaption } from './harness';
import { defaultModel } from './models';
import { pixelDiff } from './reference';

const files = labPerFile({ webgpu: false });
const model = defaultModel();

/** The canvas's own pixels (what putImageData drew). */
async function canvasPixels(page: Page, selector: string): Promise<number[]> {
  return page.locator(selector).evaluate((el) => {
    const c = el as HTMLCanvasElement;
    return Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data);
  });
}

/** Whether the whole model name fits its select: the select is at least as wide as its label's text. */
async function modelNameFits(page: Page): Promise<{ fits: boolean; text: string; textWidth: number; width: number }> {
  return page.getByTestId('model-select').evaluate((el) => {
    const select = el as HTMLSelectElement;
    const style = getComputedStyle(select);
    const probe = document.createElement('span');
    probe.style.font = style.font;
    probe.style.whiteSpace = 'pre';
    probe.style.position = 'absolute';
    probe.textContent = select.selectedOptions[0]?.text ?? '';
    document.body.append(probe);
    const textWidth = probe.getBoundingClientRect().width;
    probe.remove();
    const inner = select.clientWidth - Number.parseFloat(style.paddingLeft) - Number.parseFloat(style.paddingRight);
    return { fits: inner >= textWidth, text: probe.textContent ?? '', textWidth, width: inner };
  });
}

test('a bare address shows the default experiment beside its nearest training image, above the fold', async () => {
  const { page } = files.lab;
  await page.goto(files.server.url);
  // no click: the default experiment runs once the model is ready
  const caption = resultCaption(
    page,
    `· seed ${model.manifest.defaults.seed} · ${model.manifest.defaults.steps} steps`,
  );
  await caption.waitFor({ timeout: 170_000 });
  expect(await page.getByTestId('prompt').inputValue()).toBe(model.manifest.memorized[0].caption);
  await page.locator('[data-testid="nearest-image"][data-drawn="true"]').waitFor({ timeout: 60_000 });
  expect(await page.getByTestId('key-verdict').innerText()).toMatch(/Nearest: .+ Tiled L2 distance \d\.\d\d/);
  expect((await readResultPixels(page)).data.some((v, i) => i % 4 !== 3 && v > 0)).toBe(true);

  // the key pair (both images and their captions) is inside the 1280x800 viewport
  for (const id of ['result-image', 'nearest-image', 'image-caption']) {
    const box = await page.getByTestId(id).boundingBox();
    expect(box, id).not.toBeNull();
    expect(box!.y, id).toBeGreaterThanOrEqual(0);
    expect(box!.y + box!.height, id).toBeLessThanOrEqual(800);
  }
  await page.screenshot({ path: `${process.cwd()}/e2e/output/first-visit-1280.png` });
  expect(files.lab.fatal).toEqual([]);
});

test('the model name is shown whole at 1280 and 1920 px', async () => {
  const { page } = files.lab;
  for (const width of [1280, 1920]) {
    await page.setViewportSize({ width, height: width === 1280 ? 800 : 1080 });
    const fit = await modelNameFits(page);
    expect(fit.fits, `${width} px: "${fit.text}" needs ${fit.textWidth} px, has ${fit.width}`).toBe(true);
    await page.screenshot({
      path: `${process.cwd()}/e2e/output/first-visit-${width}-header.png`,
      clip: { x: 0, y: 0, width, height: 200 },
    });
  }
  await page.setViewportSize({ width: 1280, height: 800 });
});

test('info buttons are reached with Tab and explain their word in place; the glossary opens from the header', async () => {
  const { page } = files.lab;
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  // Tab from the top of the page: the first info button is the tagline's, before any control.
  let reached = false;
  for (let i = 0; i < 5 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement?.getAttribute('data-testid') === 'info-organism');
  }
  expect(reached).toBe(true);
  await page.keyboard.press('Enter');
  const pop = page.locator('.info-pop:popover-open');
  await pop.waitFor({ timeout: 5_000 });
  expect(await pop.innerText()).toMatch(/Model organism\. A small model trained here on purpose/);
  await page.screenshot({ path: `${process.cwd()}/e2e/output/first-visit-info.png` });
  await page.keyboard.press('Escape');
  await pop.waitFor({ state: 'detached', timeout: 5_000 });

  // the tiled L2 distance beside the key pair explains itself the same way
  await page
    .getByTestId('key-verdict')
    .getByRole('button', { name: /Tiled L2 distance/ })
    .click();
  expect(await page.locator('.info-pop:popover-open').innerText()).toMatch(/4×4 tiles/);
  await page.keyboard.press('Escape');

  await page.getByTestId('glossary-open').click();
  const glossary = page.getByTestId('glossary');
  await expect.poll(() => glossary.evaluate((d) => (d as HTMLDialogElement).open)).toBe(true);
  const text = await glossary.innerText();
  for (const word of ['Tiled L2 distance', 'Memorization score (Wen score)', 'DAAM heatmap', 'NeMo', 'UniForget β']) {
    expect(text).toContain(word);
  }
  await page.keyboard.press('Escape');
  await expect.poll(() => glossary.evaluate((d) => (d as HTMLDialogElement).open)).toBe(false);
  expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('glossary-open');
});

test('at 390 px the image follows the visitor to the head grid and shows each click there', async () => {
  const page = await files.lab.context.newPage();
  try {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${files.server.url}?backend=wasm&v=1&n=6`);
    await resultCaption(page, '6 steps').waitFor({ timeout: 120_000 });
    // the image comes first on a phone: the key pair is on the first screen
    const pair = await page.getByTestId('key-pair').boundingBox();
    expect(pair!.y + pair!.height).toBeLessThanOrEqual(844);
    const sticky = page.getByTestId('sticky-result');
    expect(await sticky.isVisible()).toBe(false);

    const cell = page.locator('.mv-headcell').nth(5);
    await cell.scrollIntoViewIfNeeded();
    await expect.poll(() => sticky.isVisible()).toBe(true);
    const bar = await sticky.boundingBox();
    expect(bar!.y).toBe(0);
    const shown = await canvasPixels(page, '[data-testid="sticky-result"] canvas[aria-label="generated"]');
    expect(pixelDiff(shown, (await readResultPixels(page)).data).max).toBe(0);

    await cell.click();
    await resultCaption(page, '1 unit pruned').waitFor({ timeout: 120_000 });
    // the cell is still on screen, and so are the baseline and the pruned image above it
    const cellBox = await cell.boundingBox();
    expect(cellBox!.y).toBeGreaterThan(bar!.height);
    expect(cellBox!.y + cellBox!.height).toBeLessThanOrEqual(844);
    expect(await sticky.locator('figure').count()).toBeGreaterThanOrEqual(2);
    const pruned = await canvasPixels(page, '[data-testid="sticky-result"] canvas[aria-label="pruned"]');
    expect(pixelDiff(pruned, (await readResultPixels(page)).data).max).toBe(0);
    await page.screenshot({ path: `${process.cwd()}/e2e/output/first-visit-390-grid.png` });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
  } finally {
    await page.close();
  }
});

/**
 * The teacher's story on the model organism, in three clicks and no science job: "Memorized
 * prompt" shows the generation beside its nearest training image, the planted artwork it copies;
 * "Universal mask" (the mask the model ships, loaded when the model is ready) prunes 40% of the
 * cross-attention heads, and for this caption and seed the copy of its artwork is gone from the
 * pruned image while the unpruned one beside it still copies; a neutral prompt under the same mask
 * still draws a scene. (Over all captions the mask does less: see the README's claims table.)
 * Screenshots in e2e/output.
 */
import { expect, test } from 'vitest';
import type { Page } from 'playwright-core';
import { labPerFile, waitOrExplain, waitReady } from './harness';
import { defaultModel } from './models';

const files = labPerFile({ webgpu: false });
const model = defaultModel();
const memorized = model.manifest.memorized[0];
const neutral = model.manifest.neutralPrompts[0];
const RUN = 120_000;

const result = (page: Page) => page.locator('[data-testid="image-caption"][data-kind="result"]');
/** The nearest-training-image captions of the comparison, in order (baseline first when there is a pair). */
const nearestLabels = (page: Page) => page.locator('[data-testid="comparison"] .lab-nearest .hint').allInnerTexts();
/** The tiled L2 distances to the nearest training image shown in the comparison, in the same order. */
async function tiledL2(page: Page): Promise<number[]> {
  const cells = page.locator('[data-testid="comparison"] .mv-stat', { hasText: 'tiled L2 distance' }).locator('dd');
  return (await cells.allInnerTexts()).map((text) => Number.parseFloat(text));
}
const copyOf = `memorized ${memorized.kind} image “${memorized.caption}”`;

test('memorized prompt, the copy beside its training image, the universal mask: that copy is gone', async () => {
  expect(memorized, 'the default model plants no memorized image').toBeDefined();
  const { page } = files.lab;
  await page.goto(`${files.server.url}?backend=wasm`);
  await waitReady(page);
  // The ready-made mask arrives with the model: no "Find universal mask" first.
  const removal = page.getByTestId('preset-pruning');
  await expect.poll(() => removal.getAttribute('data-shipped'), { timeout: 30_000 }).toBe('true');
  expect(await removal.innerText()).toBe('Universal mask (40% of heads)');

  // 1. The memorized prompt: the generation is its planted artwork.
  await page.getByTestId('preset-memorized').click();
  await expect.poll(() => removal.isEnabled(), { timeout: RUN }).toBe(true);
  // Unpruned, the nearest training image is shown beside the generation at the top of the page.
  await waitOrExplain(files.lab, page.getByTestId('key-verdict').filter({ hasText: `Nearest: ${copyOf}.` }), RUN);
  const copied = (await tiledL2(page))[0];
  expect(copied).toBeLessThan(0.35);
  await files.lab.screenshot('teacher-1-memorized');

  // 2. The universal mask: the same prompt and seed with the shipped mask, beside the unpruned image.
  await removal.click();
  await result(page).filter({ hasText: '8 units pruned' }).waitFor({ timeout: RUN });
  await page.locator('[data-testid="comparison"][data-kind="pair"]').waitFor({ timeout: RUN });
  await expect.poll(async () => (await nearestLabels(page)).length, { timeout: RUN }).toBe(2);
  const [baseline, pruned] = await nearestLabels(page);
  expect(baseline).toBe(copyOf);
  expect(pruned).not.toContain(`“${memorized.caption}”`);
  const [baseL2, prunedL2] = await tiledL2(page);
  expect(baseL2).toBe(copied);
  expect(prunedL2).toBeGreaterThan(2 * copied);
  expect(await page.evaluate(() => location.search)).toContain('x.cross_attn_head_mask=');
  await files.lab.screenshot('teacher-2-removed');

  // 3. A neutral prompt under the same mask still draws a scene, not a planted image.
  await page.getByTestId('prompt').fill(neutral);
  await page.getByTestId('generate').click();
  await result(page).filter({ hasText: neutral }).filter({ hasText: '8 units pruned' }).waitFor({ timeout: RUN });
  await expect.poll(async () => (await nearestLabels(page)).length, { timeout: RUN }).toBe(2);
  for (const label of await nearestLabels(page)) expect(label).toMatch(/^training scene #\d+/);
  await files.lab.screenshot('teacher-3-neutral');
  expect(files.lab.fatal).toEqual([]);
});

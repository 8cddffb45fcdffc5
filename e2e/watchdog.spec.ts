/**
 * The watchdog on WASM: a worker that closes itself from inside (no error event reaches the page:
 * the way a silent death looks) is noticed, replaced and given its model again; the user is told
 * in plain words, the experiment stays, the "being loaded again" notice goes once the model is
 * ready, and the lab generates again. For the analysis worker too: once it is back, scores and
 * heatmaps return over a fresh worker-to-worker channel.
 */
import { expect, test } from 'vitest';
import type { Page, Worker } from 'playwright-core';
import { labPerFile, waitReady } from './harness';
import { defaultModel } from './models';

const files = labPerFile({ webgpu: false });
const prompt = defaultModel().manifest.memorized[0].caption;

const caption = (page: Page) => page.locator('[data-testid="image-caption"][data-kind="result"]');

/** The lab's own worker of that name (ORT's thread workers load the same script under other names). */
async function labWorker(page: Page, name: 'memlab-inference' | 'memlab-analysis'): Promise<Worker> {
  for (const worker of page.workers()) {
    const own = await worker.evaluate(() => (self as unknown as { name: string }).name).catch(() => '');
    if (own === name) return worker;
  }
  throw new Error(`no ${name} worker`);
}

/** Close the worker from inside, after the evaluate call has returned. */
async function closeFromInside(worker: Worker): Promise<void> {
  await worker.evaluate(() => {
    setTimeout(() => (self as unknown as { close(): void }).close(), 0);
  });
}

test('an inference worker that closes itself mid-run is replaced; the experiment stays and runs again', async () => {
  const { page } = files.lab;
  // a shorter watchdog patience (the default is 20 s): the replacement is seen in seconds
  await page.goto(`${files.server.url}?backend=wasm&watchdog-ms=4000`);
  await waitReady(page);
  await page.getByTestId('prompt').fill(prompt);
  await page.getByTestId('seed').fill('31');
  await page.getByTestId('steps').fill('100');
  await page.getByTestId('generate').click();
  await page.locator('[data-testid="step-strip"] li').nth(1).waitFor({ timeout: 60_000 });
  await closeFromInside(await labWorker(page, 'memlab-inference'));

  const notice = page.locator('.notice.error', { hasText: 'stopped responding' });
  await notice.waitFor({ timeout: 90_000 });
  expect(await notice.innerText()).toMatch(/being loaded again.*experiment is kept/);
  await files.lab.screenshot('watchdog-inference');
  await waitReady(page);
  // the wait is over, so is the notice about it; what was lost can be run again
  await notice.waitFor({ state: 'detached', timeout: 10_000 });
  expect(await page.getByTestId('prompt').inputValue()).toBe(prompt);
  expect(await page.getByTestId('seed').inputValue()).toBe('31');
  expect(await page.getByTestId('steps').inputValue()).toBe('100');
  await page.getByTestId('steps').fill('6');
  await page.getByTestId('notice-retry-generate').click();
  await caption(page).filter({ hasText: 'seed 31 · 6 steps' }).waitFor({ timeout: 60_000 });
  expect(await page.locator('.notice.error').count()).toBe(0);
  expect(files.lab.fatal).toEqual([]);
});

test('an analysis worker that closes itself is replaced when it owes an answer; scores and heatmaps return', async () => {
  const { page } = files.lab;
  await closeFromInside(await labWorker(page, 'memlab-analysis'));
  await page.getByTestId('steps').fill('5');
  await page.getByTestId('seed').fill('32');
  await page.getByTestId('generate').click();
  await caption(page).filter({ hasText: 'seed 32 · 5 steps' }).waitFor({ timeout: 60_000 });

  const notice = page.locator('.notice.warning', { hasText: 'analysis worker stopped responding' });
  await notice.waitFor({ timeout: 90_000 });
  expect(await notice.innerText()).toMatch(/restarted/);
  await page.getByTestId('seed').fill('33');
  await page.getByTestId('generate').click();
  await caption(page).filter({ hasText: 'seed 33 · 5 steps' }).waitFor({ timeout: 60_000 });
  // replication needs the training index (the replayed init loaded it); heatmaps need this run's
  // attention, sent by the inference worker to the new analysis worker over the new channel
  await page.getByTestId('score-nearest').waitFor({ timeout: 30_000 });
  await page
    .locator('[data-testid="heatmaps"]', { hasText: 'all heads, layers, 5 steps' })
    .waitFor({ timeout: 30_000 });
  expect(files.lab.fatal).toEqual([]);
});

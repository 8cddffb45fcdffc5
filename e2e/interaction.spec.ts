/**
 * Interaction on WASM: a new Generate supersedes a running one, Cancel stops at a step boundary,
 * Enter in the prompt generates (keyboard only), and the page holds together on a narrow screen.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { launch, serve, waitReady, type Lab, type Served } from './harness';
import { defaultModel } from './models';

let server: Served;
let lab: Lab;
const model = defaultModel();
const prompt = model.manifest.memorized[0].caption;

beforeAll(async () => {
  server = await serve();
  lab = await launch({ webgpu: false });
  await lab.page.goto(`${server.url}?backend=wasm`);
  await waitReady(lab.page);
});

afterAll(async () => {
  await lab?.close();
  await server?.close();
});

const caption = () => lab.page.locator('[data-testid="image-caption"][data-kind="result"]');

test('a second Generate supersedes the running one', async () => {
  const { page } = lab;
  await page.getByTestId('prompt').fill(prompt);
  await page.getByTestId('steps').fill('100');
  await page.getByTestId('seed').fill('1');
  await page.getByTestId('generate').click();
  await page.locator('[data-testid="step-strip"] li').nth(1).waitFor();
  await page.getByTestId('steps').fill('6');
  await page.getByTestId('seed').fill('2');
  await page.getByTestId('generate').click();
  await caption().filter({ hasText: 'seed 2 · 6 steps' }).waitFor({ timeout: 60_000 });
  expect(await page.locator('[data-testid="step-strip"] li').count()).toBe(6);
  expect(await page.locator('.notice.error').count()).toBe(0);
  expect(lab.fatal).toEqual([]);
});

test('Cancel stops a running generation and keeps the lab usable', async () => {
  const { page } = lab;
  await page.getByTestId('steps').fill('100');
  await page.getByTestId('generate').click();
  await page.locator('[data-testid="step-strip"] li').nth(1).waitFor();
  await page.getByTestId('cancel').click();
  await page.locator('.notice', { hasText: 'Generation cancelled.' }).waitFor({ timeout: 30_000 });
  await waitReady(page, 30_000, true);
  expect(await page.locator('[data-testid="step-strip"] li').count()).toBeLessThan(100);
  expect(lab.fatal).toEqual([]);
});

test('Enter in the prompt generates, with the keyboard only', async () => {
  const { page } = lab;
  await page.getByTestId('steps').fill('3');
  await page.getByTestId('seed').fill('42');
  await page.getByTestId('prompt').focus();
  await page.keyboard.press('Enter');
  await caption().filter({ hasText: 'seed 42 · 3 steps' }).waitFor({ timeout: 60_000 });
  // Every control has an accessible name.
  for (const id of ['prompt', 'seed', 'steps', 'guidance', 'generate']) {
    const name = await page
      .getByTestId(id)
      .evaluate(
        (el) => (el as HTMLInputElement).labels?.[0]?.innerText ?? el.getAttribute('aria-label') ?? el.textContent,
      );
    expect(name?.trim().length, id).toBeGreaterThan(0);
  }
});

test('a crashed worker is restarted, the user is told, and generating works again', async () => {
  const { page } = lab;
  const worker = page.workers().find((w) => w.url().includes('inference.worker'));
  expect(worker, 'the inference worker').toBeDefined();
  // An uncaught error inside the worker is what a WASM abort looks like from the page.
  await worker!.evaluate(() => {
    setTimeout(() => {
      throw new Error('simulated crash');
    });
  });
  const notice = page.locator('.notice.error', { hasText: 'crashed' });
  await notice.waitFor({ timeout: 30_000 });
  expect(await notice.innerText()).toMatch(/restarted/);
  await lab.screenshot('worker-crash');
  await waitReady(page);
  await page.getByTestId('seed').fill('77');
  await page.getByTestId('generate').click();
  await caption().filter({ hasText: 'seed 77' }).waitFor({ timeout: 60_000 });
  expect(lab.fatal.filter((f) => !f.includes('simulated crash'))).toEqual([]);
});

test('the layout holds on a narrow screen', async () => {
  const { page } = lab;
  await page.setViewportSize({ width: 390, height: 844 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await lab.screenshot('narrow');
  await page.setViewportSize({ width: 1280, height: 800 });
});

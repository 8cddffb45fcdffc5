/**
 * Without --enable-unsafe-webgpu Chromium offers no WebGPU adapter: the lab must pick WASM by itself,
 * say why on the page, and still generate.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { generateImage, launch, readResultPixels, serve, waitReady, type Lab, type Served } from './harness';
import { defaultModel } from './models';
import { channelSpread } from './reference';

let server: Served;
let lab: Lab;
const model = defaultModel();

beforeAll(async () => {
  server = await serve();
  lab = await launch({ webgpu: false });
});

afterAll(async () => {
  await lab?.close();
  await server?.close();
});

test('falls back to WASM with a visible reason when there is no WebGPU', async () => {
  const { page } = lab;
  await page.goto(server.url);
  await waitReady(page);
  await expect.poll(() => page.getByTestId('backend').getAttribute('data-backend')).toBe('wasm');
  const reason = page.getByTestId('backend-reason');
  expect(await reason.isVisible()).toBe(true);
  const text = await reason.innerText();
  expect(text).toMatch(/WebGPU/);
  expect(text).toMatch(/WebAssembly/);
  console.info(`no-webgpu reason: ${text}`);

  await generateImage(page, { prompt: model.manifest.memorized[0].caption, seed: 5, steps: 4, guidance: 4 });
  expect(channelSpread((await readResultPixels(page)).data)).toBeGreaterThan(5);
  await lab.screenshot('no-webgpu');
  expect(lab.fatal).toEqual([]);
});

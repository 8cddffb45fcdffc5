/**
 * Without --enable-unsafe-webgpu Chromium offers no WebGPU adapter: the lab must pick WASM by itself,
 * say why on the page, and still generate.
 */
import { expect, test } from 'vitest';
import { generateImage, readResultPixels, waitReady, labPerFile } from './harness';
import { defaultModel } from './models';
import { channelSpread } from './reference';

const files = labPerFile({ webgpu: false });
const model = defaultModel();

test('falls back to WASM with a visible reason when there is no WebGPU', async () => {
  const { page } = files.lab;
  await page.goto(files.server.url);
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
  await files.lab.screenshot('no-webgpu');
  expect(files.lab.fatal).toEqual([]);
});

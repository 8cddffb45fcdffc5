/**
 * WASM end to end: the page, forced to WebAssembly, generates a real image that equals the Node
 * reference (same core pipeline, onnxruntime-node, same files) within 1 level of 255 per channel.
 */
import { expect, test } from 'vitest';
import { generateImage, readResultPixels, waitReady, labPerFile } from './harness';
import { defaultModel } from './models';
import { channelSpread, pixelDiff, referenceImage } from './reference';

const files = labPerFile({ webgpu: false });
const model = defaultModel();

test('generates on WASM an image equal to the Node reference', async () => {
  const { page } = files.lab;
  await page.goto(`${files.server.url}?backend=wasm`);
  await waitReady(page);
  await expect.poll(() => page.getByTestId('backend').getAttribute('data-backend')).toBe('wasm');

  // Unknown words are flagged while typing, before any generation.
  await page.getByTestId('prompt').fill(`${model.manifest.memorized[0].caption} glorpish`);
  await expect.poll(() => page.getByTestId('unknown-words').innerText()).toContain('glorpish');

  const params = { prompt: model.manifest.memorized[0].caption, seed: 1234, steps: 12, guidance: 4 };
  const started = Date.now();
  await generateImage(page, params);
  const seconds = (Date.now() - started) / 1000;
  await files.lab.screenshot('wasm-result');

  const shown = await readResultPixels(page);
  expect(shown.width).toBe(model.manifest.image.width);
  expect(channelSpread(shown.data)).toBeGreaterThan(5);
  const steps = await page.locator('[data-testid="step-strip"] li').count();
  expect(steps).toBe(params.steps);

  const reference = await referenceImage(model.id, params);
  const diff = pixelDiff(shown.data, reference);
  console.info(
    `wasm: ${params.steps} steps in ${seconds.toFixed(1)} s; vs Node reference max ${diff.max}, mean ${diff.mean.toFixed(4)}, changed ${(diff.changed * 100).toFixed(2)}%`,
  );
  // Same fp32 math on both sides; rounding to 8 bits can flip a value sitting on a .5 boundary.
  expect(diff.max).toBeLessThanOrEqual(1);
  expect(files.lab.fatal).toEqual([]);
});

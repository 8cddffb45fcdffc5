import { organism } from '../src/core/manifest';
import { decodeModel, encodeModel } from '../src/core/onnx/proto';
/**
 * Model download failures and the Cache API, as a teacher meets them: each failure is told in a
 * plain sentence with the technical detail behind "Technical details", and offers "Try again"
 * only where trying again can help. A truncated download can be retried; a transfer spoiled once
 * is fetched again by itself; a file damaged on the server, a damaged manifest and a file the
 * runtime cannot read are refused without a retry. A verified download is cached, so a reload
 * downloads nothing again.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Page } from 'playwright-core';
import { generateImage, launch, readResultPixels, serve, waitReady, type Lab, type Served } from './harness';
import { defaultModel } from './models';
import { channelSpread } from './reference';

let server: Served;
const model = defaultModel();
const unet = organism(model.manifest).files.unet.int8;
const unetBytes = readFileSync(join(model.dir, unet.path));
const manifestText = readFileSync(join(model.dir, 'manifest.json'), 'utf8');
const opened: Lab[] = [];

beforeAll(async () => {
  server = await serve();
});

afterAll(async () => {
  for (const lab of opened) await lab.close();
  await server?.close();
});

async function freshLab(): Promise<Lab> {
  const lab = await launch({ webgpu: false });
  opened.push(lab);
  return lab;
}

/** Serve a broken UNet `times` times (workers' fetches included: the route is on the context), then the real one. */
async function breakUnet(lab: Lab, body: Buffer, times = 1): Promise<{ requests: () => number }> {
  let served = 0;
  await lab.context.route(`**/${unet.path}*`, async (route) => {
    served++;
    if (served > times) return route.continue();
    await route.fulfill({ status: 200, contentType: 'application/octet-stream', body });
  });
  return { requests: () => served };
}

/** Serve this text as the model's manifest.json. */
async function replaceManifest(lab: Lab, body: string): Promise<void> {
  await lab.context.route(`**/${model.id}/manifest.json*`, (route) =>
    route.fulfill({ status: 200, contentType: 'application/json', body }),
  );
}

/** The error notice: its sentence, its technical detail, and whether it offers a retry. */
async function errorNotice(page: Page) {
  const notice = page.locator('.notice.error').first();
  await notice.waitFor({ timeout: 90_000 });
  await notice.locator('summary', { hasText: 'Technical details' }).click();
  return {
    message: await notice.getByTestId('notice-message').innerText(),
    detail: await notice.getByTestId('notice-detail').innerText(),
    retry: await notice.getByTestId('notice-retry-load').count(),
  };
}

/** No developer text in the sentence a teacher reads. */
function expectPlain(message: string): void {
  expect(message).not.toMatch(/sha256|ERROR_CODE|protobuf|HTTP \d|\.onnx|[0-9a-f]{12}|zod|Required/i);
}

async function expectGenerates(page: Page): Promise<void> {
  await generateImage(page, { prompt: model.manifest.memorized[0].caption, seed: 3, steps: 2, guidance: 4 });
  expect(channelSpread((await readResultPixels(page)).data)).toBeGreaterThan(5);
}

test('a truncated download says so in plain words, the byte counts in the details, and Try again recovers', async () => {
  const lab = await freshLab();
  const { page } = lab;
  await breakUnet(lab, unetBytes.subarray(0, Math.floor(unetBytes.length / 2)));
  await page.goto(`${server.url}?backend=wasm`);
  const notice = await errorNotice(page);
  expect(notice.message).toMatch(/download stopped before the end.*try again/i);
  expectPlain(notice.message);
  expect(notice.detail).toMatch(/stopped early.*received [\d,]+ of [\d,]+ bytes/);
  expect(notice.retry).toBe(1);
  expect(await page.getByTestId('generate').isDisabled()).toBe(true);
  await lab.screenshot('download-truncated');

  await page.getByTestId('notice-retry-load').click();
  await waitReady(page);
  expect(await page.locator('.notice.error').count()).toBe(0);
  await expectGenerates(page);
  expect(lab.fatal).toEqual([]);
});

test('a transfer spoiled once is downloaded again by itself, without troubling the user', async () => {
  const lab = await freshLab();
  const corrupt = Buffer.from(unetBytes);
  for (let i = 1000; i < 1100; i++) corrupt[i] ^= 0xff;
  const route = await breakUnet(lab, corrupt, 1);
  await lab.page.goto(`${server.url}?backend=wasm`);
  await waitReady(lab.page);
  expect(route.requests()).toBe(2);
  expect(await lab.page.locator('.notice.error').count()).toBe(0);
  await expectGenerates(lab.page);
  expect(lab.fatal).toEqual([]);
});

test('a file damaged on the server is refused in plain words, with its checksums in the details and no retry', async () => {
  const lab = await freshLab();
  const corrupt = Buffer.from(unetBytes);
  for (let i = 1000; i < 1100; i++) corrupt[i] ^= 0xff;
  await breakUnet(lab, corrupt, Number.POSITIVE_INFINITY);
  await lab.page.goto(`${server.url}?backend=wasm`);
  const notice = await errorNotice(lab.page);
  expect(notice.message).toMatch(/damaged or belongs to another version.*cannot be opened/);
  expectPlain(notice.message);
  expect(notice.detail).toContain(`the manifest expects ${unet.sha256}`);
  expect(notice.detail).toMatch(/A second download was the same/);
  expect(notice.retry).toBe(0);
  await lab.screenshot('download-corrupt');
  expect(lab.fatal).toEqual([]);
});

test('a damaged manifest is named without its schema paths; the paths are in the details; no retry', async () => {
  const lab = await freshLab();
  const broken = JSON.parse(manifestText);
  delete broken.unet;
  broken.image.width = 'wide';
  await replaceManifest(lab, JSON.stringify(broken));
  await lab.page.goto(`${server.url}?backend=wasm`);
  const notice = await errorNotice(lab.page);
  expect(notice.message).toMatch(/description file \(manifest\.json\) is damaged.*cannot be opened/);
  expectPlain(notice.message.replace('manifest.json', ''));
  expect(notice.detail).toMatch(/unet/);
  expect(notice.detail).toMatch(/image\.width/);
  expect(notice.retry).toBe(0);
  await lab.screenshot('download-bad-manifest');
  expect(lab.fatal).toEqual([]);
});

test('a file that matches its checksum but is not a model the runtime can read is refused without a retry', async () => {
  const lab = await freshLab();
  const garbage = Buffer.from('this is not an ONNX model '.repeat(200));
  const manifest = JSON.parse(manifestText);
  manifest.files.unet.int8 = {
    ...manifest.files.unet.int8,
    bytes: garbage.length,
    sha256: createHash('sha256').update(garbage).digest('hex'),
  };
  await replaceManifest(lab, JSON.stringify(manifest));
  await breakUnet(lab, garbage, Number.POSITIVE_INFINITY);
  await lab.page.goto(`${server.url}?backend=wasm`);
  const notice = await errorNotice(lab.page);
  expect(notice.message).toMatch(/model files could not be opened/);
  expectPlain(notice.message);
  expect(notice.detail).toMatch(/protobuf|ERROR_CODE|parse/i);
  expect(notice.retry).toBe(0);
  await lab.screenshot('download-not-onnx');
  expect(lab.fatal).toEqual([]);
});

test('weights changed under a matching checksum fail the known-answer test, with a plain message', async () => {
  const lab = await freshLab();
  // Negate the largest int8 weight tensor: a valid graph of the same size that answers wrongly, and
  // a manifest re-hashed to match it (a server that published damaged files with fresh checksums).
  const graph = decodeModel(new Uint8Array(unetBytes));
  const biggest = (graph.graph?.initializer ?? []).reduce((a, b) =>
    (b.rawData?.byteLength ?? 0) > (a.rawData?.byteLength ?? 0) ? b : a,
  );
  biggest.rawData = Uint8Array.from(biggest.rawData as Uint8Array, (v) => (256 - v) & 0xff);
  const damaged = Buffer.from(encodeModel(graph));
  const manifest = structuredClone(model.manifest);
  organism(manifest).files.unet.int8 = {
    ...unet,
    bytes: damaged.byteLength,
    sha256: createHash('sha256').update(damaged).digest('hex'),
  };
  await lab.context.route(`**/${model.id}/manifest.json*`, (route) =>
    route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(manifest) }),
  );
  await lab.context.route(`**/${unet.path}*`, (route) =>
    route.fulfill({ status: 200, contentType: 'application/octet-stream', body: damaged }),
  );
  const { page } = lab;
  await page.goto(`${server.url}?backend=wasm`);
  const notice = await errorNotice(page);
  expect(notice.message).toMatch(/gives wrong answers.*reloading will not help/s);
  expectPlain(notice.message);
  expect(notice.detail.length).toBeGreaterThan(0);
  expect(notice.retry).toBe(0);
  expect(await page.getByTestId('generate').isDisabled()).toBe(true);
  expect(lab.fatal).toEqual([]);
});

test('a reload reads the model from the Cache API instead of downloading it again', async () => {
  const lab = await freshLab();
  const { page, context } = lab;
  const onnxRequests: string[] = [];
  context.on('request', (req) => {
    if (/\.onnx(\?|$)/.test(req.url())) onnxRequests.push(req.url());
  });

  await page.goto(`${server.url}?backend=wasm`);
  await waitReady(page);
  const firstLoad = onnxRequests.length;
  expect(firstLoad).toBeGreaterThanOrEqual(2);
  expect(await page.getByTestId('backend-reason').innerText()).not.toContain('from the browser cache');

  await page.reload();
  await waitReady(page);
  expect(onnxRequests.length).toBe(firstLoad);
  expect(await page.getByTestId('backend-reason').innerText()).toContain('from the browser cache');
  await lab.screenshot('reload-cached');
  expect(lab.fatal).toEqual([]);
});

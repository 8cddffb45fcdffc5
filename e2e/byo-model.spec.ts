/**
 * Bring your own Stable Diffusion, end to end in Chromium on WebAssembly: the real diffusers ONNX
 * export in ../shared/fixtures/tiny-sd1 (random weights) is picked through the folder input,
 * instrumented in the worker, generates, and pruning a head changes the pruned image; the grid is
 * labelled with the model's own block names. Science on it: detection for the prompt; the study
 * waits for a memorized prompt set; a JSONL and a CSV imported as prompt sets, the detection study
 * on them with its CSV export, and the evaluation against reference images named by index (its
 * proxies and the replication rate with its interval). A URL-served copy's link reopens the same pixels in a fresh
 * profile after the user agrees to load from that host. Broken folders each get their message.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import type { Page } from 'playwright-core';
import { encode } from 'fast-png';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { launch, type Lab, labPerFile, readResultPixels, ROOT, waitOrExplain, waitReady } from './harness';

const FIXTURE = join(ROOT, '../shared/fixtures/tiny-sd1');
const files = labPerFile({ webgpu: false });
const scratch = mkdtempSync(join(tmpdir(), 'memlab-byo-'));

/** Serves a folder with CORS, as a model host would (the lab runs on another origin). */
function modelHost(root: string): Promise<{ server: Server; base: string }> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/sd\//, '');
    const file = normalize(join(root, path));
    const headers = { 'Access-Control-Allow-Origin': '*', 'Cross-Origin-Resource-Policy': 'cross-origin' };
    try {
      if (!file.startsWith(root) || !statSync(file).isFile()) throw new Error('no file');
      const body = readFileSync(file);
      res.writeHead(200, { ...headers, 'Content-Length': body.byteLength });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch {
      res.writeHead(404, headers).end();
    }
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}/sd/` }),
    ),
  );
}

let host: Awaited<ReturnType<typeof modelHost>>;
beforeAll(async () => {
  host = await modelHost(FIXTURE);
});
afterAll(async () => {
  await new Promise((done) => host?.server.close(done));
  rmSync(scratch, { recursive: true, force: true });
});

async function openDialog(page: Page) {
  await page.getByTestId('load-model').click();
  await page.getByTestId('load-dialog').waitFor();
}

const resultCaption = (page: Page) => page.locator('[data-testid="image-caption"][data-kind="result"]');

async function pickFolder(page: Page, dir: string) {
  await openDialog(page);
  await page.getByTestId('load-folder-input').setInputFiles(dir);
}

test('a diffusers folder from disk: loads, reports its blocks, generates, a pruned head changes the image, and the science jobs run on imported prompt sets', async () => {
  const { page } = files.lab;
  await page.goto(`${files.server.url}?backend=wasm`);
  await waitReady(page);
  await pickFolder(page, FIXTURE);
  const report = page.getByTestId('load-report');
  await report.waitFor({ timeout: 120_000 });
  const text = await report.innerText();
  expect(text).toMatch(/4 cross-attention blocks \(4 heads each\)/);
  expect(text).toContain('down_blocks.0/attentions.0');
  expect(text).toMatch(/PNDMScheduler/);
  await page.getByTestId('load-close').click();
  await waitReady(page);

  await page.getByTestId('prompt').fill('a photo of a cat');
  await page.getByTestId('steps').fill('3');
  await page.getByTestId('guidance').fill('7.5');
  await page.getByTestId('generate').click();
  await resultCaption(page).filter({ hasText: '3 steps' }).waitFor({ timeout: 120_000 });
  const before = await readResultPixels(page);
  expect(before.width).toBe(32);
  await files.lab.screenshot('byo-generated');

  // the grid is labelled with the model's own block names
  expect(await page.locator('.mv-headgrid').innerText()).toContain('down_blocks.0/attentions.0');
  await page.locator('.mv-headcell').nth(1).click();
  await resultCaption(page).filter({ hasText: '1 unit pruned' }).waitFor({ timeout: 120_000 });
  const pruned = await readResultPixels(page);
  const changed = pruned.data.filter((v, i) => v !== before.data[i]).length;
  expect(changed).toBeGreaterThan(0);

  // the science jobs run on the loaded model: detection for this prompt needs no prompt sets
  await page.getByTestId('science-detect').click();
  const detection = page.getByTestId('science-detection');
  await detection.waitFor({ timeout: 120_000 });
  expect(await detection.innerText()).toMatch(/noise gap \(first k steps\)[\s\S]*\d\.\d{3}/);
  // the study needs memorized prompts, which a folder does not bring: it says so
  expect(await page.getByTestId('science-study').isDisabled()).toBe(true);
  expect(await page.getByTestId('science-study-size').innerText()).toMatch(/memorized prompt set/);

  // a researcher's own lists: a Wen-style JSONL of memorized prompts and a NeMo-style CSV of others
  const jsonl = join(scratch, 'memorized.jsonl');
  writeFileSync(
    jsonl,
    ['a photo of a cat', 'a red bicycle'].map((caption, index) => JSON.stringify({ caption, index })).join('\n'),
  );
  const csv = join(scratch, 'ordinary.csv');
  const ordinary = ['a bowl of soup', 'a quiet harbour', 'a wooden chair', 'a field of wheat'];
  writeFileSync(
    csv,
    ['Caption;URL;type;mean_sscd;max_sscd;Index', ...ordinary.map((c, i) => `${c};;VM;0.1;0.2;${i}`)].join('\n'),
  );
  const panel = page.getByTestId('science-panel');
  const fileInput = panel.getByLabel('Prompt files (.jsonl, .csv, .txt)');
  await panel.getByLabel('Import as').selectOption('memorized');
  await fileInput.setInputFiles(jsonl);
  const imported = page.getByTestId('prompt-import-report');
  await imported.filter({ hasText: 'memorized.jsonl' }).waitFor({ timeout: 10_000 });
  await panel.getByLabel('Import as').selectOption('non-memorized');
  await fileInput.setInputFiles(csv);
  await imported.filter({ hasText: 'ordinary.csv' }).waitFor({ timeout: 10_000 });
  for (const own of await page.locator('[data-testid="prompt-set-row"][data-origin="model"]').all())
    await own.getByTestId('prompt-set-use').uncheck();
  expect(await page.getByTestId('science-study-size').innerText()).toMatch(/2 memorized and 4 non-memorized prompts/);
  await page.getByTestId('science-study').click();
  await waitOrExplain(files.lab, page.getByTestId('science-roc'), 180_000);
  expect(await page.getByTestId('science-roc').innerText()).toMatch(/AUC \d\.\d{3}/);
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('science-study-csv').click()]);
  const rows = readFileSync(await download.path(), 'utf8')
    .trim()
    .split(/\r?\n/);
  expect(rows[0]).toMatch(/^prompt,set,label,/);
  expect(rows.slice(1).map((r) => r.split(',').slice(0, 3).join(','))).toEqual([
    'a photo of a cat,memorized,memorized',
    'a red bicycle,memorized,memorized',
    ...ordinary.map((c) => `${c},ordinary,non-memorized`),
  ]);

  // reference images named by the prompts' indexes: the evaluation measures replication against them
  const refs = join(scratch, 'references');
  mkdirSync(refs);
  for (const [i, shade] of [40, 200].entries())
    writeFileSync(
      join(refs, `${i}.png`),
      encode({ width: 32, height: 32, data: new Uint8Array(32 * 32 * 3).fill(shade), channels: 3 }),
    );
  await page.getByTestId('reference-files').setInputFiles([join(refs, '0.png'), join(refs, '1.png')]);
  await page
    .getByTestId('reference-report')
    .filter({ hasText: '2 of 2 memorized prompts have a reference image (matched 2 by index)' })
    .waitFor({ timeout: 10_000 });
  await page.getByTestId('science-evaluate').click();
  const proxies = page.getByTestId('science-proxy-evaluation');
  await waitOrExplain(files.lab, proxies, 180_000);
  expect(await proxies.innerText()).toMatch(/reference image/);
  expect(await proxies.locator('thead').innerText()).toMatch(/replication \(95% interval\)/);
  expect(await proxies.locator('tbody tr').count()).toBeGreaterThan(1);
  expect(await proxies.getByTestId('proxy-replication').first().innerText()).toMatch(/^\d+% \[\d+%–\d+%\]$/);
  // the evaluation's CSV: one row per condition as the table shows them, replication with its interval
  const [evalCsv] = await Promise.all([
    page.waitForEvent('download'),
    page.getByTestId('science-evaluate-csv').click(),
  ]);
  expect(evalCsv.suggestedFilename()).toMatch(/-evaluation\.csv$/);
  const evalRows = readFileSync(await evalCsv.path(), 'utf8')
    .trim()
    .split(/\r?\n/);
  expect(evalRows[0]).toMatch(/^condition,kind,sparsity,.*,replication,replication_lo,replication_hi,/);
  expect(evalRows.length - 1).toBe(await proxies.locator('tbody tr').count());
  expect(evalRows[1]).toMatch(/^none,none,/);
  expect(files.lab.fatal).toEqual([]);
}, 400_000);

test('a URL-served model: its link asks before loading from that host, then reopens the same pixels in a fresh profile', async () => {
  const { page } = files.lab;
  await page.goto(`${files.server.url}?backend=wasm`);
  await waitReady(page);
  await openDialog(page);
  await page.getByTestId('load-url-input').fill(host.base);
  await page.getByTestId('load-url-button').click();
  await page.getByTestId('load-report').waitFor({ timeout: 120_000 });
  await page.getByTestId('load-close').click();
  await waitReady(page);
  await page.getByTestId('prompt').fill('an astronaut riding a horse');
  await page.getByTestId('steps').fill('2');
  await page.getByTestId('generate').click();
  await resultCaption(page).filter({ hasText: '2 steps' }).waitFor({ timeout: 120_000 });
  const pixels = await readResultPixels(page);
  await expect.poll(() => page.evaluate(() => location.search)).toContain('src=');
  const link = page.url();

  const fresh: Lab = await launch({ webgpu: false });
  try {
    const other = fresh.page;
    const requests: string[] = [];
    other.on('request', (r) => requests.push(r.url()));
    // The lab's own model loads meanwhile; held back here so the user agrees while it is still
    // loading (as on a slow machine): the link's model must still be the one that generates.
    let ownModelHeld = 0;
    await other.route(
      (url) => url.href.startsWith(files.server.url) && /\/models\/.+\.onnx$/.test(url.pathname),
      async (route) => {
        ownModelHeld++;
        await new Promise((wait) => setTimeout(wait, 2000));
        await route.continue();
      },
    );
    await other.goto(link);
    const ask = other.getByTestId('notice-load-link-model');
    await ask.waitFor({ timeout: 60_000 });
    // nothing was fetched from the model's host before the user agreed
    expect(requests.filter((u) => u.startsWith(host.base))).toEqual([]);
    await ask.click();
    await waitOrExplain(fresh, resultCaption(other).filter({ hasText: '2 steps' }), 180_000);
    const again = await readResultPixels(other);
    const maxDiff = again.data.reduce((m, v, i) => Math.max(m, Math.abs(v - pixels.data[i])), 0);
    expect(maxDiff).toBeLessThanOrEqual(1);
    expect(ownModelHeld).toBeGreaterThan(0);
    expect(fresh.fatal).toEqual([]);
  } finally {
    await fresh.close();
  }
}, 500_000);

/** A copy of the fixture with one change, for the broken-folder cases. */
function brokenCopy(name: string, change: (dir: string) => void): string {
  const dir = join(scratch, name);
  cpSync(FIXTURE, dir, { recursive: true });
  change(dir);
  return dir;
}

test('broken folders each get a clear message, and the lab keeps working', async () => {
  const { page } = files.lab;
  const cases: [string, string, RegExp][] = [
    [
      'no-tokenizer',
      brokenCopy('no-tokenizer', (d) => rmSync(join(d, 'tokenizer'), { recursive: true })),
      /tokenizer is missing/,
    ],
    ['no-weights', brokenCopy('no-weights', (d) => rmSync(join(d, 'unet/weights.pb'))), /no file unet\/weights\.pb/],
    [
      'truncated',
      brokenCopy('truncated', (d) => {
        const graph = join(d, 'unet/model.onnx');
        writeFileSync(graph, readFileSync(graph).subarray(0, 5000));
      }),
      /damaged or incomplete/,
    ],
    [
      'no-attention',
      brokenCopy('no-attention', (d) => cpSync(join(d, 'vae_decoder/model.onnx'), join(d, 'unet/model.onnx'))),
      /does not look like a diffusion UNet|no attention/,
    ],
  ];
  for (const [name, dir, expected] of cases) {
    await page.goto(`${files.server.url}?backend=wasm`);
    await waitReady(page);
    await pickFolder(page, dir);
    const error = page.getByTestId('load-error');
    await error.waitFor({ timeout: 60_000 }).catch(async () => {
      throw new Error(`${name}: no load error; dialog says ${await page.getByTestId('load-dialog').innerText()}`);
    });
    expect(await error.innerText(), name).toMatch(expected);
    expect(await error.locator('details').count(), name).toBe(1);
  }
  expect(files.lab.fatal).toEqual([]);
}, 400_000);

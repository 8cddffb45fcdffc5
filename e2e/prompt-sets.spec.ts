/**
 * Prompt sets on the bundled organism (WASM): a JSONL of memorized captions and a NeMo CSV of
 * ordinary prompts, written here, go in through the science panel's file input; the reports show
 * the counts and a skipped line's reason; the detection study runs on the two sets alone (the
 * model's own unticked) and its CSV export has one row per prompt with its set, label and scores.
 * The sets come back after a reload (IndexedDB); a bad file gets a message, not a blank page.
 */
import { csvParse } from 'd3';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { labPerFile, waitOrExplain, waitReady } from './harness';
import { defaultModel } from './models';

const files = labPerFile({ webgpu: false });
const dir = mkdtempSync(join(tmpdir(), 'memlab-prompts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const { manifest } = defaultModel();
const memorized = manifest.memorized.slice(0, 2).map((m) => m.caption);
const neutral = manifest.neutralPrompts.slice(0, 2);

test('import a JSONL and a CSV, run the detection study on them, export CSV', async () => {
  const { page } = files.lab;
  const jsonl = join(dir, 'wen_memorized.jsonl');
  writeFileSync(
    jsonl,
    [
      JSON.stringify({ caption: memorized[0], index: 0, url: 'https://example.org/0.jpg' }),
      JSON.stringify({ caption: memorized[1], index: 1 }),
      '{"caption": "cut off in the middle',
    ].join('\n'),
  );
  const csv = join(dir, 'nemo_ordinary.csv');
  writeFileSync(
    csv,
    [
      'Caption;URL;type;mean_sscd;max_sscd;Index',
      ...neutral.map((c, i) => `${c};https://example.org/${i}.jpg;VM;0.1;0.2;${i}`),
      'a caption,with,commas,only',
    ].join('\r\n'),
  );
  const empty = join(dir, 'empty.txt');
  writeFileSync(empty, '');

  // a 2-step first image (the page makes one on arrival), kept by the link through the reload below
  await page.goto(`${files.server.url}?backend=wasm&v=1&n=2`);
  await waitReady(page, 120_000, true);
  const panel = page.getByTestId('science-panel');
  const fileInput = panel.getByLabel('Prompt files (.jsonl, .csv, .txt)');

  await panel.getByLabel('Import as').selectOption('memorized');
  await fileInput.setInputFiles(jsonl);
  const report = page.getByTestId('prompt-import-report');
  await waitOrExplain(files.lab, report.filter({ hasText: 'wen_memorized.jsonl' }), 10_000);
  expect(await report.innerText()).toContain(
    "Read 2 memorized prompts from wen_memorized.jsonl as Wen et al.'s JSONL (the first line is a JSON object); skipped 1 line",
  );
  await report.getByText('1 skipped line').click();
  expect(await report.getByTestId('prompt-skipped').innerText()).toMatch(
    /line 3: not a valid JSON object \(cut off, or a stray character\)/,
  );

  await panel.getByLabel('Import as').selectOption('non-memorized');
  await fileInput.setInputFiles(csv);
  await report.filter({ hasText: 'nemo_ordinary.csv' }).waitFor({ timeout: 10_000 });
  expect(await report.innerText()).toContain('Read 2 non-memorized prompts from nemo_ordinary.csv');
  await report.getByText('1 skipped line').click();
  expect(await report.getByTestId('prompt-skipped').innerText()).toMatch(/line 4: 1 fields where the header has 6/);

  // a bad file: a message in words, nothing added
  await fileInput.setInputFiles(empty);
  await report.filter({ hasText: 'empty.txt' }).waitFor({ timeout: 10_000 });
  expect(await report.innerText()).toContain('The file has no prompts (it is empty or blank).');

  const rows = page.getByTestId('prompt-set-row');
  expect(await rows.count()).toBe(4);
  expect(await rows.nth(2).innerText()).toMatch(/wen_memorized[\s\S]*memorized[\s\S]*2/);
  // the study on the two imported sets alone
  for (const own of await page.locator('[data-testid="prompt-set-row"][data-origin="model"]').all())
    await own.getByTestId('prompt-set-use').uncheck();
  expect(await page.getByTestId('science-study-size').innerText()).toMatch(
    /2 memorized and 2 non-memorized prompts; 4 seeds/,
  );

  await page.getByTestId('science-study').click();
  await waitOrExplain(files.lab, page.getByTestId('science-roc'), 120_000);
  expect(await page.getByTestId('science-roc').innerText()).toMatch(/AUC \d\.\d{3}/);

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('science-study-csv').click()]);
  expect(download.suggestedFilename()).toBe(`${manifest.id}-detection-study.csv`);
  const table = csvParse(readFileSync(await download.path(), 'utf8'));
  expect(table.columns.slice(0, 3)).toEqual(['prompt', 'set', 'label']);
  expect(table.map((r) => [r.prompt, r.set, r.label])).toEqual([
    ...memorized.map((c) => [c, 'wen_memorized', 'memorized']),
    ...neutral.map((c) => [c, 'nemo_ordinary', 'non-memorized']),
  ]);
  for (const r of table) expect(Number.isFinite(Number(r.wen)) && Number(r.wen) > 0).toBe(true);

  // the sets and the choice stay in this browser
  await page.reload();
  await waitReady(page, 120_000, true);
  expect(await rows.count()).toBe(4);
  expect(await page.locator('[data-testid="prompt-set-row"][data-origin="model"] input:checked').count()).toBe(0);
  await rows.nth(3).getByTestId('prompt-set-remove').click();
  expect(await rows.count()).toBe(3);
  expect(await page.getByTestId('science-study-size').innerText()).toMatch(/at least one non-memorized prompt set/);
  expect(await page.getByTestId('science-study').isDisabled()).toBe(true);
  // the list and the import control fit a phone's width
  await page.setViewportSize({ width: 390, height: 844 });
  expect(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBeLessThanOrEqual(1);
  expect(files.lab.fatal).toEqual([]);
});

/**
 * The science jobs on a Stable Diffusion folder (random weights: the numbers mean nothing, the
 * plumbing is what is checked): every job of the registry, the CLI's report, cancel and resume,
 * and the cost estimate against the measured time. Few prompts, few steps, to stay fast.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode } from 'fast-png';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csvParse } from 'd3';
import {
  type DefaultJob,
  type JobEnv,
  type ScienceJob,
  type ScienceRequest,
  defaultRequest,
  resultExports,
  runJob,
} from '../core/jobs';
import type { PromptSet } from '../core/prompts/types';
import { memoryCache } from '../core/science/cache';
import type { Progress } from '../core/science/context';
import { estimateJobCost, measureStepTime, rowsPerCall } from '../core/science/cost';
import { DETECTORS } from '../core/science/detect';
import { runDetectionStudy } from '../core/science/study';
import { allOnes } from '../core/masks';
import { rgbImageOfChw } from '../core/metrics/embedding';
import { wilsonInterval } from '../core/metrics/wilson';
import { encodePrompts, sampleRows } from '../core/science/batch';
import { type DiffusersScienceModel, openDiffusersScience } from './diffusers-science';
import { parseEvalArgs, proxySummaryLines, runDiffusersEvalCommand } from './eval';

const DIR = '../shared/fixtures/tiny-sd1';
const MEMORIZED = ['the starry night by a famous painter', 'a portrait of a woman with a pearl earring'];
// two reference prompts (the first half) and one for utility
const NEUTRAL = ['a dog on a floor', 'a bowl of fruit', 'a red bicycle by a wall'];
const POOL = ['a cat on a sofa'];
const sets: PromptSet[] = [
  { name: 'memorized', label: 'memorized', prompts: MEMORIZED.map((caption) => ({ caption })) },
  { name: 'neutral', label: 'non-memorized', prompts: NEUTRAL.map((caption) => ({ caption })) },
  { name: 'pool', label: 'unlabelled', prompts: POOL.map((caption) => ({ caption })) },
];

let sd: DiffusersScienceModel;
let dir: string;
beforeAll(async () => {
  sd = await openDiffusersScience(DIR);
  dir = await mkdtemp(join(tmpdir(), 'memlab-eval-sd-'));
  await writeFile(join(dir, 'memorized.txt'), `${MEMORIZED.join('\n')}\n`);
  await writeFile(join(dir, 'neutral.txt'), `${NEUTRAL.join('\n')}\n`);
  await writeFile(join(dir, 'pool.txt'), `${POOL.join('\n')}\n`);
}, 60_000);
afterAll(async () => {
  await sd?.release();
  await rm(dir, { recursive: true, force: true });
});

describe('the science jobs on a model from a diffusers folder', () => {
  it('runs every panel job end to end on imported sets and returns well-formed results', async () => {
    const env: JobEnv = { runner: sd.sampler, manifest: sd.manifest, cache: memoryCache() };
    const lab = { prompt: MEMORIZED[0], units: 'heads' as const, promptSets: sets };
    // the panel's requests, cut to test size: 2 seeds, the first step of a 3-step schedule
    const detection = { seeds: [1, 2], steps: 3, k: 1, guidance: 7.5 };
    const small: Record<string, object> = {
      detect: { detection },
      study: { detection },
      attribution: { seeds: [1], steps: 3, k: 1 },
      nemo: { maxEvaluations: 4, seeds: [21, 22] },
      universal: { detection },
    };
    const request = (job: DefaultJob): ScienceRequest => {
      const r = defaultRequest(job, sd.manifest, lab);
      Object.assign(r.params, small[job]);
      return r;
    };
    const heads = sd.manifest.unet.masks.find((m) => m.kind === 'cross-attention head')!;
    const model = `${sd.manifest.id}@${sd.manifest.version}`;
    // what "Export CSV" and "Export JSON" save: the CSV parsed back, the JSON naming its model
    const exported = (job: ScienceJob, result: unknown) => {
      const files = resultExports(sd.manifest, job, result as never);
      // the JSON spells Infinity and NaN as strings (result-tables.ts): read them back as numbers
      const nonFinite: Record<string, number> = { Infinity, '-Infinity': -Infinity, NaN };
      const json = JSON.parse(files.json, (_k, v) => (typeof v === 'string' && v in nonFinite ? nonFinite[v] : v));
      expect(json.model).toBe(model);
      return { rows: csvParse(files.csv!), json };
    };
    const blockName = (row: { layer?: string }) => sd.manifest.unet.layers[Number(row.layer)].name;

    const detect = await runJob(env, request('detect'));
    const [d] = detect.outcome.result as { prompt: string; wen: number }[];
    expect(d.prompt).toBe(MEMORIZED[0]);
    for (const k of DETECTORS) expect(Number.isFinite((d as never)[k.key])).toBe(true);
    const detectCsv = exported('detect', detect.outcome.result).rows;
    expect(detectCsv.map((r) => [r.prompt, Number(r.wen)])).toEqual([[MEMORIZED[0], d.wen]]);

    const study = (await runJob(env, request('study'))).outcome.result as Awaited<ReturnType<typeof runDetectionStudy>>;
    expect(study.prompts.map((p) => p.group)).toEqual([
      ...MEMORIZED.map(() => 'memorized'),
      ...NEUTRAL.map(() => 'neutral'),
      ...POOL.map(() => 'unlabelled'),
    ]);
    expect(study.rocs.map((r) => r.key)).toEqual(DETECTORS.map((k) => k.key));
    for (const r of study.rocs) expect(r.roc.auc).toBeGreaterThanOrEqual(0);
    const studyFiles = exported('study', study);
    expect(studyFiles.rows.map((r) => [r.prompt, r.set, r.label])).toEqual(
      sets.flatMap((s) => s.prompts.map((p) => [p.caption, s.name, s.label])),
    );
    expect(studyFiles.rows.map((r) => Number(r.wen))).toEqual(study.scores.map((s) => s.wen));
    expect(studyFiles.json.detectors.map((x: { auc: number }) => x.auc)).toEqual(study.rocs.map((r) => r.roc.auc));

    const attribution = (await runJob(env, request('attribution'))).outcome.result as {
      units: number[];
      universal: number[];
    };
    expect(attribution.units).toHaveLength(heads.layers * heads.units);
    expect(attribution.universal.every(Number.isFinite)).toBe(true);
    const attributionCsv = exported('attribution', attribution).rows;
    expect(attributionCsv).toHaveLength(heads.layers * heads.units);
    expect(attributionCsv.map((r) => Number(r.universal))).toEqual(attribution.universal);
    for (const r of attributionCsv) expect(r.layer_name).toBe(blockName(r));
    expect(attributionCsv[0].layer_name).toMatch(/^down_blocks\.0\/attentions\.0/);

    const nemo = (await runJob(env, request('nemo'))).outcome.result as { prompt: string; z: number[]; target: number };
    expect(nemo.prompt).toBe(MEMORIZED[0]);
    expect(nemo.z.every(Number.isFinite)).toBe(true);
    expect(Number.isFinite(nemo.target)).toBe(true);
    const nemoFiles = exported('nemo', nemo);
    expect(nemoFiles.rows.map((r) => Number(r.z))).toEqual(nemo.z);
    expect(nemoFiles.rows.filter((r) => r.kept === 'true').length).toBe(
      (nemo as unknown as { search: { refined: number[] } }).search.refined.length,
    );
    expect(nemoFiles.json.result).toEqual(nemo);

    const universal = (await runJob(env, request('universal'))).outcome.result as {
      poolSize: number;
      scores: number[];
    };
    // the pool: every imported prompt not labelled non-memorized, labels unread
    expect(universal.poolSize).toBe(MEMORIZED.length + POOL.length);
    expect(universal.scores).toHaveLength(heads.layers * heads.units);
    const ranked = exported('universal', universal).rows;
    expect(ranked.map((r) => Number(r.score))).toEqual([...universal.scores].sort((a, b) => b - a));
    expect(ranked[0].rank).toBe('1');

    const evaluateRequest = request('evaluate');
    Object.assign((evaluateRequest.params as { options: object }).options, {
      steps: 2,
      sparsities: [0.25],
      randomDraws: 1,
    });
    const evaluation = (await runJob(env, evaluateRequest)).outcome.result as {
      schema: string;
      replication: { measured: boolean; reason: string };
      conditions: { id: string; memorizedNoiseGapRatio: number; neutralChange: number; memorizedChange: number }[];
    };
    expect(evaluation.schema).toBe('memlab-eval-proxy/1');
    expect(evaluation.replication).toEqual({
      measured: false,
      reason: expect.stringMatching(/^Replication needs reference images/),
    });
    expect(evaluation.conditions.map((c) => c.id)).toEqual(['none', 'universal@0.25', 'random@0.25']);
    expect(evaluation.conditions[0]).toMatchObject({ memorizedNoiseGapRatio: 1, neutralChange: 0, memorizedChange: 0 });
    for (const c of evaluation.conditions.slice(1)) expect(c.neutralChange).toBeGreaterThan(0);
    const evaluationFiles = exported('evaluate', evaluation);
    expect(evaluationFiles.rows.map((r) => [r.condition, Number(r.neutral_change)])).toEqual(
      evaluation.conditions.map((c) => [c.id, c.neutralChange]),
    );
    expect(evaluationFiles.json.result).toEqual(evaluation);
  }, 120_000);

  it('says what a model without memorized prompts cannot study, and runs what needs none', async () => {
    const env: JobEnv = { runner: sd.sampler, manifest: sd.manifest, cache: memoryCache() };
    const lab = { prompt: 'a cat', units: 'heads' as const };
    await expect(runJob(env, defaultRequest('study', sd.manifest, lab))).rejects.toThrow(
      /no memorized prompts: import a prompt set labelled memorized/,
    );
    await expect(runJob(env, defaultRequest('attribution', sd.manifest, lab))).rejects.toThrow(
      /needs prompts known to be memorized/,
    );
    await expect(runJob(env, defaultRequest('universal', sd.manifest, lab))).rejects.toThrow(/import a prompt set/);
    const [d] = (await runJob(env, defaultRequest('detect', sd.manifest, lab))).outcome.result as { wen: number }[];
    expect(d.wen).toBeGreaterThan(0);
  }, 60_000);

  it('npm run eval on the folder: writes the report and plot, stops on cancel, resumes from the cache', async () => {
    const argv = [
      '--model',
      DIR,
      '--quick',
      '--seeds',
      '1',
      '--steps',
      '2',
      '--draws',
      '1',
      '--sparsities',
      '0.25',
      '--cache',
      join(dir, 'cache'),
      '--out',
      join(dir, 'r.json'),
      '--plot',
      join(dir, 'r.svg'),
      ...['--prompts', join(dir, 'memorized.txt'), '--label', 'memorized'],
      ...['--prompts', join(dir, 'neutral.txt'), '--label', 'non-memorized'],
      ...['--prompts', join(dir, 'pool.txt'), '--label', 'unlabelled'],
    ];
    const args = parseEvalArgs(argv);
    // cancel once generation for the evaluation starts: detection, universal scores and NeMo are cached by then
    const controller = new AbortController();
    const first: Progress[] = [];
    await expect(
      runDiffusersEvalCommand(args, {
        signal: controller.signal,
        onProgress: (p) => {
          first.push(p);
          if (p.stage === 'evaluate') controller.abort();
        },
      }),
    ).rejects.toMatchObject({ name: 'AbortError' });
    expect(first.some((p) => p.stage === 'detect')).toBe(true);

    const log: string[] = [];
    const again: Progress[] = [];
    const report = await runDiffusersEvalCommand(args, { log: (l) => log.push(l), onProgress: (p) => again.push(p) });
    expect(again.some((p) => p.stage === 'detect' || p.stage.startsWith('ablate'))).toBe(false);
    expect(again.some((p) => p.stage === 'evaluate')).toBe(true);
    expect(log).toContainEqual(
      expect.stringMatching(/^detection study: 6 prompts x 2 seeds x 1 step x 2 \(guidance\)/),
    );
    expect(log).toContainEqual(expect.stringMatching(/^replication: not measured/));
    const written = JSON.parse(await readFile(join(dir, 'r.json'), 'utf8'));
    expect(written.schema).toBe('memlab-eval-proxy/1');
    expect(written.nemo.prompts).toHaveLength(MEMORIZED.length);
    expect(report.conditions.map((c) => c.kind)).toEqual(['none', 'nemo', 'universal', 'random']);
    const svg = await readFile(join(dir, 'r.svg'), 'utf8');
    expect(svg).toMatch(/^<svg /);
    expect(svg).toContain('memorized noise gap, share of unpruned');
  }, 120_000);

  it('npm run eval --references: counts a generation as a copy exactly when its reference is that generation, and reports prompts without one', async () => {
    // Wen et al.'s JSONL with indexes: the first prompt's reference (10.png) is the unpruned model's
    // own generation (same seed and settings as the evaluation), the second's (11.png) an unrelated
    // picture, the third has none
    const memorized = [...MEMORIZED, 'a castle on a hill at dawn'];
    const jsonl = memorized.map((caption, i) => JSON.stringify({ caption, index: 10 + i })).join('\n');
    await writeFile(join(dir, 'wen.jsonl'), `${jsonl}\n`);
    const refs = join(dir, 'refs');
    await mkdir(refs);
    const { width, height } = sd.manifest.image;
    const settings = { steps: 2, guidance: sd.manifest.defaults.guidance, keepImages: true };
    const own = await sampleRows(
      sd.sampler,
      sd.manifest,
      await encodePrompts(sd.sampler, sd.manifest, [memorized[0]]),
      [allOnes(sd.manifest)],
      [{ prompt: 0, seed: 1, maskSet: 0 }],
      settings,
    );
    const png = (data: Uint8Array) => encode({ width, height, channels: 3, data });
    await writeFile(join(refs, '10.png'), png(rgbImageOfChw(own.images![0], width, height).data as Uint8Array));
    const stripes = Uint8Array.from({ length: width * height * 3 }, (_, i) => {
      const x = Math.floor(i / 3) % width;
      const y = Math.floor(i / 3 / width);
      return ((x + 2 * y) % 16 < 8 ? 40 : 220) + (i % 3) * 10;
    });
    await writeFile(join(refs, '11.png'), png(stripes));

    const outputs = ['--out', join(dir, 'ref.json'), '--plot', join(dir, 'ref.svg')];
    const argv = [
      ...['--model', DIR, '--quick', '--seeds', '1', '--steps', '2', '--draws', '1', '--sparsities', '0.25'],
      ...['--cache', join(dir, 'ref-cache'), ...outputs, '--references', refs],
      ...['--prompts', join(dir, 'wen.jsonl'), '--label', 'memorized'],
      ...['--prompts', join(dir, 'neutral.txt'), '--label', 'non-memorized'],
    ];
    const args = parseEvalArgs(argv);
    const log: string[] = [];
    const report = await runDiffusersEvalCommand(args, { log: (l) => log.push(l) });
    const replication = report.replication;
    if (!replication.measured) throw new Error(`replication not measured: ${replication.reason}`);
    expect(replication.encoder).toBe('pixels-32');
    expect(replication.references).toMatchObject({
      prompts: 3,
      withReference: 2,
      byRule: { index: 2, 'file name': 0, position: 0 },
      missing: [memorized[2]],
    });
    expect(log).toContain('references: 2 of 3 prompts of "wen" have a reference image.');
    const { threshold, samples, ordinaryMax } = replication.calibration;
    // the neutral prompts' evaluation half (one) x two utility seeds; the encoder's 0.9 is the floor
    expect(samples).toBe(2);
    expect(threshold).toBe(Math.max(0.9, ordinaryMax));
    expect(threshold).toBeLessThan(1);

    expect(report.conditions.map((c) => c.kind)).toEqual(['none', 'nemo', 'universal', 'random']);
    const none = report.conditions[0].replication!;
    expect(none).toMatchObject({ count: 1, total: 2, rate: 0.5, ...wilsonInterval(1, 2) });
    expect(none.anyReference.count).toBeGreaterThanOrEqual(1);
    for (const c of report.conditions) {
      const r = c.replication!;
      expect(r.total).toBe(2); // one draw of the random mask: two prompts with a reference x one seed
      expect(0 <= r.lo && r.lo <= r.rate && r.rate <= r.hi && r.hi <= 1).toBe(true);
      expect(r).toMatchObject(wilsonInterval(r.count, r.total));
      expect(Number.isFinite(c.memorizedNoiseGapRatio)).toBe(true); // the proxies stay beside it
    }
    const lines = proxySummaryLines(report);
    expect(lines).toContainEqual(
      expect.stringMatching(/^replication on 2 of 3 memorized prompts .*2 by index; 1 without/),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(/^none +pruned +0 +replication +50\.0% \[9\.5, 90\.5\] of 2 +memorized noise gap/),
    );
    const svg = await readFile(join(dir, 'ref.svg'), 'utf8');
    expect(svg).toContain('replication on memorized prompts with a reference image');

    // an ONNX embedder instead of the pixel default (a fixture network: its numbers mean nothing)
    const onnx = await runDiffusersEvalCommand(
      parseEvalArgs([...argv, '--embedder', 'src/core/metrics/__fixtures__/tiny-embedder.onnx', '--size', '32']),
    );
    expect(onnx.replication).toMatchObject({ measured: true, encoder: 'onnx:tiny-embedder.onnx' });
    for (const c of onnx.conditions)
      expect(c.replication).toMatchObject({ total: 2, ...wilsonInterval(c.replication!.count, 2) });

    expect(() => parseEvalArgs(['--model', DIR, '--embedder', 'sscd.onnx'])).toThrow(
      /--embedder compares generations with reference images: give them with --references/,
    );

    // a folder that matches none of them: said, and the proxies reported
    await mkdir(join(dir, 'empty'));
    const unmatched = await runDiffusersEvalCommand({ ...args, references: join(dir, 'empty') });
    expect(unmatched.replication).toMatchObject({
      measured: false,
      reason: expect.stringMatching(/none of the 3 memorized prompts evaluated has one/),
      references: { withReference: 0, missing: memorized },
    });
    expect(unmatched.conditions.every((c) => c.replication === undefined)).toBe(true);
  }, 120_000);

  it('estimates the detection study within a factor of 2 of its measured time', async () => {
    const options = { seeds: [1, 2], steps: 3, k: 2, guidance: 7.5 };
    const prompts = MEMORIZED.length + NEUTRAL.length + POOL.length;
    const shape = { prompts, seeds: 2, steps: 2, guided: true };
    const step = await measureStepTime(sd.sampler, sd.manifest, rowsPerCall(shape));
    const estimate = estimateJobCost(shape, step);
    const began = performance.now();
    await runDetectionStudy(sd.sampler, sd.manifest, { ...options, promptSets: sets });
    const measured = (performance.now() - began) / 1000;
    expect(estimate.unetEvaluations).toBe(prompts * 2 * 2 * 2);
    expect(measured / estimate.seconds).toBeGreaterThan(0.5);
    expect(measured / estimate.seconds).toBeLessThan(2);
  }, 60_000);
});

/**
 * `npm run bench`: per-step cost of a guided generation (UNet batch 2) on onnxruntime-node and on
 * onnxruntime-web's WASM backend in Node, and what the core pipeline adds on top of a bare
 * session.run loop on the same backend (target: pipeline / bare <= 1.10). Bare runs and pipeline
 * steps alternate one to one so machine load affects both alike; medians per step are reported.
 * Writes bench/results/node.json.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Tensor as OrtTensor } from 'onnxruntime-node';
import { allOnes, stackMaskSets } from '../src/core/masks';
import { generate } from '../src/core/pipeline';
import { gaussianNoise } from '../src/core/rng';
import { type StepTimes, compareStepTimes, timeInterleaved } from '../src/core/paired-timing';
import { tokenize } from '../src/core/tokenizer';
import { type Backend, type NodeModel, loadNodeModel } from '../src/node/runner';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const STEPS = 25;
const THREADS = 2;
const PROMPT = 'a painting of zephyr';
/** measured generations per backend, STEPS - 1 interleaved step pairs each */
const GENERATIONS: Record<Backend, number> = { node: 10, wasm: 5 };

/** Feeds for a bare UNet run (batch 2: uncond + cond), built once outside the timed region. */
async function bareFeeds(model: NodeModel): Promise<Record<string, OrtTensor>> {
  const { manifest, sessions, ort } = model;
  const { maxTokens, width } = manifest.text;
  const { channels, height, width: w } = manifest.image;
  const u = manifest.unet;
  const ids = BigInt64Array.from([...tokenize('', manifest.text).ids, ...tokenize(PROMPT, manifest.text).ids], BigInt);
  const text = await sessions.text.run({ [sessions.text.inputNames[0]]: new ort.Tensor('int64', ids, [2, maxTokens]) });
  const masks = stackMaskSets(manifest, [allOnes(manifest)], 2);
  const sample = new Float32Array(2 * channels * height * w);
  sample.set(gaussianNoise(7, sample.length));
  const feeds: Record<string, OrtTensor> = {
    [u.inputs.sample]: new ort.Tensor('float32', sample, [2, channels, height, w]),
    [u.inputs.timestep]: new ort.Tensor('float32', new Float32Array(2).fill(999), [2]),
    [u.inputs.context]: new ort.Tensor('float32', text[sessions.text.outputNames[0]].data as Float32Array, [
      2,
      maxTokens,
      width,
    ]),
  };
  for (const m of u.masks) feeds[m.name] = new ort.Tensor('float32', masks[m.name], [2, m.layers, m.units]);
  return feeds;
}

/**
 * One generation through generate(), its steps interleaved one to one with bare session.run calls
 * on the same session. The first step (which also encodes the prompt) is left out of both.
 */
async function interleavedGeneration(
  model: NodeModel,
  feeds: Record<string, OrtTensor>,
  times: StepTimes,
  record = true,
) {
  const noise = [model.manifest.unet.noiseOutput];
  const gen = generate(model.runner, model.manifest, {
    prompt: PROMPT,
    seed: 7,
    steps: STEPS,
    guidance: 4,
    variants: [allOnes(model.manifest)],
    captureAttention: false,
  });
  await gen.next();
  await timeInterleaved(
    STEPS - 1,
    () => model.sessions.unet.run(feeds, noise),
    () => gen.next(),
    times,
    record,
  );
  if (!(await gen.next()).done) throw new Error('generation did not finish after its last step');
}

async function benchBackend(dir: string, backend: Backend) {
  const model = await loadNodeModel(dir, { backend, threads: THREADS });
  try {
    const feeds = await bareFeeds(model);
    const times: StepTimes = { bare: [], pipeline: [] };
    await interleavedGeneration(model, feeds, times, false); // warm-up: arenas, kernels
    for (let g = 0; g < GENERATIONS[backend]; g++) await interleavedGeneration(model, feeds, times);
    return { backend, precision: model.precision, threads: THREADS, ...compareStepTimes(times) };
  } finally {
    await model.release();
  }
}

async function main(): Promise<void> {
  const trained = join(ROOT, 'public/models/memlab-organism');
  const dir = existsSync(join(trained, 'manifest.json')) ? trained : join(ROOT, 'public/models/fixture-random');
  const started = performance.now();
  const results = [];
  for (const backend of ['node', 'wasm'] as const) results.push(await benchBackend(dir, backend));
  const report = {
    date: new Date().toISOString(),
    model: dir.slice(ROOT.length + 1),
    steps: STEPS,
    batch: 2,
    machine: {
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      node: process.version,
      loadAverage1m: loadavg()[0],
    },
    target: 'pipeline / bare <= 1.10',
    results,
    totalSeconds: +((performance.now() - started) / 1000).toFixed(1),
  };
  console.log(
    `model ${report.model}, UNet batch 2 (guided), ${THREADS} threads, median ms per step, load ${report.machine.loadAverage1m.toFixed(1)}`,
  );
  for (const r of results) {
    const verdict = r.ratio <= 1.1 ? 'ok' : 'OVER TARGET';
    console.log(
      `${r.backend.padEnd(5)} ${r.precision}: bare ${r.bareMsPerStep.toFixed(2)} ms  pipeline ${r.pipelineMsPerStep.toFixed(2)} ms  ratio ${r.ratio.toFixed(3)} (totals ${r.ratioOfTotals.toFixed(3)}, ${r.pairs} pairs) ${verdict}`,
    );
  }
  const node = results.find((r) => r.backend === 'node')!;
  const wasm = results.find((r) => r.backend === 'wasm')!;
  console.log(
    `wasm / node (bare): ${(wasm.bareMsPerStep / node.bareMsPerStep).toFixed(2)}x; total ${report.totalSeconds} s`,
  );
  const out = join(ROOT, 'bench/results/node.json');
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, `${JSON.stringify(report, null, 1)}\n`);
  console.log(`wrote ${out.slice(ROOT.length + 1)}`);
}

await main();

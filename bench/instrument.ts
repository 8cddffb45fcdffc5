/**
 * `npx tsx bench/instrument.ts` (also part of `npm run bench`): what instrumentation costs per UNet
 * step on the tiny-sd1 fixture (batch 2, as a guided step runs), in onnxruntime-node on 2 threads.
 * For the plain export and the onnxruntime-fused form, four runs go round-robin on the same inputs
 * so machine load hits all alike (the order rotates every round):
 * - original: the original graph;
 * - masks: the graph instrumented without capture outputs (`capture: false`), all-ones masks;
 * - capture: the graph instrumented with capture, fetching the noise, every attention map and the
 *   value output;
 * - captureUnread: that graph fetching the noise only (onnxruntime computes unfetched outputs too).
 * Each run is timed by the wall clock and by the process's CPU time (one intra-op thread, no
 * spinning, so CPU time is the work done; it is what stays meaningful when other processes load
 * the machine). Target: instrumented / original <= 1.05 with capture off. Writes
 * bench/results/instrument.json.
 */
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { DiffusersUNetConfig } from '../src/core/onnx/analyze';
import { instrumentUNet } from '../src/core/onnx/instrument';
import { quantile } from '../src/core/paired-timing';
import { ROOT, readJson, SD1, sessionFromChunks, unetFeeds } from '../src/node/onnx-testing';

const THREADS = 1;
const BATCH = 2;
const WARMUP = 10;
const ROUNDS = 250;

async function benchGraph(label: string, dir: string) {
  const config = readJson<DiffusersUNetConfig & { sample_size: number }>(join(SD1, 'unet/config.json'));
  const bytes = new Uint8Array(readFileSync(join(dir, 'model.onnx')));
  const t0 = performance.now();
  const result = instrumentUNet(bytes, { config });
  const instrumentMs = performance.now() - t0;
  const masksOnly = instrumentUNet(bytes, { config, capture: false });
  const d = result.description;
  const options: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'basic',
    intraOpNumThreads: THREADS,
    interOpNumThreads: 1,
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
  const original = await ort.InferenceSession.create(join(dir, 'model.onnx'), options);
  const instrumented = await sessionFromChunks(result.chunks, dir, result.externalFiles, options);
  const masked = await sessionFromChunks(masksOnly.chunks, dir, masksOnly.externalFiles, options);
  const feeds = unetFeeds({ batch: BATCH, channels: 4, size: config.sample_size, tokens: 77, width: 32, half: false });
  const withMasks = { ...feeds };
  for (const m of d.masks)
    withMasks[m.name] = new ort.Tensor('float32', new Float32Array(BATCH * m.layers * m.units).fill(1), [
      BATCH,
      m.layers,
      m.units,
    ]);
  const captured = [d.noiseOutput, ...d.layers.map((l) => l.crossAttentionOutput), d.valueOutput];
  const variants = {
    original: () => original.run(feeds),
    masks: () => masked.run(withMasks),
    capture: () => instrumented.run(withMasks, captured),
    captureUnread: () => instrumented.run(withMasks, [d.noiseOutput]),
  };
  const names = Object.keys(variants) as (keyof typeof variants)[];
  const times: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  const cpu: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let round = 0; round < WARMUP + ROUNDS; round++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(round + k) % names.length];
      const start = performance.now();
      const startCpu = process.cpuUsage();
      await variants[name]();
      const used = process.cpuUsage(startCpu);
      if (round >= WARMUP) {
        times[name].push(performance.now() - start);
        cpu[name].push((used.user + used.system) / 1000);
      }
    }
  }
  await Promise.all([original.release(), instrumented.release(), masked.release()]);
  const median = (n: string) => quantile(times[n], 0.5);
  const cpuMedian = (n: string) => quantile(cpu[n], 0.5);
  return {
    graph: label,
    rounds: ROUNDS,
    instrumentMs: +instrumentMs.toFixed(1),
    msPerStep: Object.fromEntries(names.map((n) => [n, +median(n).toFixed(3)])),
    cpuMsPerStep: Object.fromEntries(names.map((n) => [n, +cpuMedian(n).toFixed(3)])),
    p90: Object.fromEntries(names.map((n) => [n, +quantile(times[n], 0.9).toFixed(3)])),
    masksOverOriginal: +(median('masks') / median('original')).toFixed(3),
    masksOverOriginalCpu: +(cpuMedian('masks') / cpuMedian('original')).toFixed(3),
    captureOnOverOff: +(median('capture') / median('masks')).toFixed(3),
    captureOnOverOffCpu: +(cpuMedian('capture') / cpuMedian('masks')).toFixed(3),
    captureUnreadOverOriginalCpu: +(cpuMedian('captureUnread') / cpuMedian('original')).toFixed(3),
    attentionBytesPerRow: d.attentionMaps.bytesPerRow,
  };
}

async function main() {
  const started = performance.now();
  const results = [
    await benchGraph('tiny-sd1 plain (torch export)', join(SD1, 'unet')),
    await benchGraph('tiny-sd1 fused (onnxruntime optimizer)', join(SD1, 'unet-fused')),
  ];
  const report = {
    date: new Date().toISOString(),
    batch: BATCH,
    threads: THREADS,
    machine: {
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      node: process.version,
      loadAverage1m: loadavg()[0],
    },
    target: 'masks / original <= 1.05 (all-ones masks, graph without capture outputs)',
    note: 'ratios of medians; *Cpu ratios use the process CPU time of each run',
    results,
    totalSeconds: +((performance.now() - started) / 1000).toFixed(1),
  };
  console.log(
    `UNet step, batch ${BATCH}, ${THREADS} thread, median wall / CPU ms; load ${report.machine.loadAverage1m.toFixed(1)}`,
  );
  for (const r of results) {
    const verdict = r.masksOverOriginalCpu <= 1.05 ? 'ok' : 'OVER TARGET';
    const ms = (n: keyof typeof r.msPerStep) => `${r.msPerStep[n]} / ${r.cpuMsPerStep[n]}`;
    console.log(
      `${r.graph}: original ${ms('original')}, masks ${ms('masks')} (x${r.masksOverOriginal} wall, ` +
        `x${r.masksOverOriginalCpu} CPU: ${verdict}); capture on ${ms('capture')} (x${r.captureOnOverOff} wall, ` +
        `x${r.captureOnOverOffCpu} CPU of off); capture graph, maps not fetched: x${r.captureUnreadOverOriginalCpu} CPU of original`,
    );
  }
  const out = join(ROOT, 'bench/results/instrument.json');
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`wrote ${out.slice(ROOT.length + 1)} in ${report.totalSeconds} s`);
}

await main();

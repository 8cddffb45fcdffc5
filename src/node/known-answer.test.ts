import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { knownAnswerProblem, parseReference } from '../core/known-answer';
import { decodeModel, encodeModel } from '../core/onnx/proto';
import { readManifest, sessionRunner } from './runner';

const MODELS = ['public/models/memlab-organism', 'public/models/fixture-random'];

async function runnerFor(dir: string, unetBytes?: Uint8Array) {
  const manifest = await readManifest(dir);
  const options = { graphOptimizationLevel: 'basic' as const, intraOpNumThreads: 1 };
  const text = await ort.InferenceSession.create(readFileSync(join(dir, manifest.files.textEncoder.path)), options);
  const unet = await ort.InferenceSession.create(
    unetBytes ?? readFileSync(join(dir, manifest.files.unet.int8.path)),
    options,
  );
  const reference = parseReference(readFileSync(join(dir, manifest.files.reference.path)).buffer as ArrayBuffer);
  return {
    manifest,
    runner: sessionRunner(ort, manifest, text, unet),
    reference,
    release: () => Promise.all([text.release(), unet.release()]),
  };
}

/** The int8 UNet with one weight tensor negated: still a valid graph of the same size, wrong answers. */
function damagedUnet(dir: string, path: string): Uint8Array {
  const model = decodeModel(new Uint8Array(readFileSync(join(dir, path))));
  const tensors = model.graph?.initializer ?? [];
  const biggest = tensors.reduce((a, b) => ((b.rawData?.byteLength ?? 0) > (a.rawData?.byteLength ?? 0) ? b : a));
  const raw = biggest.rawData as Uint8Array;
  const flipped = Uint8Array.from(raw, (v) => (256 - v) & 0xff); // int8 negation
  biggest.rawData = flipped;
  return encodeModel(model);
}

describe('the known-answer test on load', () => {
  for (const dir of MODELS) {
    it(`accepts the shipped int8 model (${dir})`, async () => {
      const m = await runnerFor(dir);
      try {
        expect(await knownAnswerProblem(m.runner, m.manifest, m.reference)).toBeNull();
      } finally {
        await m.release();
      }
    });
  }

  it('refuses a UNet whose weights were changed (a checksum of the changed file would match)', async () => {
    const dir = MODELS[0];
    const manifest = await readManifest(dir);
    const m = await runnerFor(dir, damagedUnet(dir, manifest.files.unet.int8.path));
    try {
      expect(await knownAnswerProblem(m.runner, m.manifest, m.reference)).toMatch(/UNet noise prediction differs/);
    } finally {
      await m.release();
    }
  });

  it('refuses a reference file without the test inputs', () => {
    expect(() => parseReference(new TextEncoder().encode('{"prompt": "x"}').buffer as ArrayBuffer)).toThrow(/lacks/);
  });
});

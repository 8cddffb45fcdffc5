import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { parseManifest } from '../manifest';
import { detectionStudyKey, nemoKey, neutralReferenceKey, universalScoresKey } from './shared-computations';
import { DEFAULT_MAX_FLAGGED, neutralSplit } from './universal';

const parsed = parseManifest(
  JSON.parse(readFileSync(join(import.meta.dirname, '../../../public/models/fixture-random/manifest.json'), 'utf8')),
);
if (!parsed.ok) throw new Error(parsed.problems.join('; '));
const manifest = parsed.manifest;
const detection = { seeds: [11, 12], steps: 10, k: 2, guidance: 4 };

test('one key per computation: a default left out and the same default written out give the same key', () => {
  const method = { units: 'heads', mode: 'ablation' } as const;
  expect(universalScoresKey(manifest, { ...method, detection })).toBe(
    universalScoresKey(manifest, {
      ...method,
      detection: { ...detection, maxRows: 8 }, // batching only: the same scores
      reference: neutralSplit(manifest).reference,
      maxFlagged: DEFAULT_MAX_FLAGGED,
      flagZ: 3,
    }),
  );
  expect(detectionStudyKey(manifest, detection)).toBe(
    detectionStudyKey(manifest, { ...detection, neutralLimit: manifest.neutralPrompts.length, heldOutTemplates: true }),
  );
  const inputs = { prompt: 'a painting of zephyr', referencePrompts: ['a', 'b'], seeds: [21, 22], search: {} };
  expect(nemoKey(manifest, inputs)).toBe(nemoKey(manifest, { ...inputs, search: { maxEvaluations: 80 } }));
});

test('what changes a result changes its key, and each computation has its own', () => {
  const method = { units: 'heads', mode: 'ablation' } as const;
  const base = universalScoresKey(manifest, { ...method, detection });
  expect(universalScoresKey(manifest, { ...method, detection, maxFlagged: 4 })).not.toBe(base);
  expect(
    universalScoresKey(manifest, { ...method, detection, reference: neutralSplit(manifest, 8).reference }),
  ).not.toBe(base);
  expect(universalScoresKey(manifest, { units: 'neurons', mode: 'activation', detection })).not.toBe(base);
  expect(universalScoresKey(manifest, { ...method, detection: { ...detection, k: 3 } })).not.toBe(base);
  expect(universalScoresKey({ ...manifest, version: 'other' }, { ...method, detection })).not.toBe(base);
  expect(detectionStudyKey(manifest, { ...detection, heldOutTemplates: false })).not.toBe(
    detectionStudyKey(manifest, detection),
  );
  const keys = [base, detectionStudyKey(manifest, detection), neutralReferenceKey(manifest, ['a', 'b'], [21, 22])];
  expect(new Set(keys.map((k) => k.split('/')[0])).size).toBe(3);
});

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { missingUNetNames, textEncoderFeed, unetFeeds, unetFetches, unetOutputs } from './feeds';
import { parseManifest } from './manifest';
import { allOnes, stackMaskSets } from './masks';
import type { UNetFeeds } from './pipeline';

const parsed = parseManifest(JSON.parse(readFileSync('public/models/fixture-random/manifest.json', 'utf8')));
if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
const manifest = parsed.manifest;
const T = manifest.text.maxTokens;
const { channels, height, width } = manifest.image;

function feedsOf(batch: number): UNetFeeds {
  return {
    batch,
    sample: new Float32Array(batch * channels * height * width),
    timestep: new Float32Array(batch),
    context: new Float32Array(batch * T * manifest.text.width),
    masks: stackMaskSets(manifest, [allOnes(manifest)], batch),
  };
}

describe('text encoder feed', () => {
  it('makes int64 rows of the model length from either id layout', () => {
    const row = Array.from({ length: T }, (_, i) => i);
    const flat = textEncoderFeed(manifest, Int32Array.from([...row, ...row]));
    expect(flat.dims).toEqual([2, T]);
    expect(flat.data[T + 3]).toBe(3n);
    expect(textEncoderFeed(manifest, [row]).dims).toEqual([1, T]);
  });

  it('refuses ids that do not fill whole rows', () => {
    expect(() => textEncoderFeed(manifest, new Int32Array(T + 1))).toThrow(`rows of ${T}`);
    expect(() => textEncoderFeed(manifest, [])).toThrow();
  });
});

describe('UNet feeds', () => {
  it('names every input the manifest lists, with its batch shape', () => {
    const feeds = unetFeeds(manifest, feedsOf(4));
    const u = manifest.unet;
    expect(Object.keys(feeds).sort()).toEqual(
      [u.inputs.sample, u.inputs.timestep, u.inputs.context, ...u.masks.map((m) => m.name)].sort(),
    );
    expect(feeds[u.inputs.sample].dims).toEqual([4, channels, height, width]);
    expect(feeds[u.inputs.context].dims).toEqual([4, T, manifest.text.width]);
    for (const m of u.masks) expect(feeds[m.name].dims).toEqual([4, m.layers, m.units]);
  });

  it('says which mask is missing instead of letting the runtime fail obscurely', () => {
    const feeds = feedsOf(2);
    const name = manifest.unet.masks[0].name;
    delete feeds.masks[name];
    expect(() => unetFeeds(manifest, feeds)).toThrow(`UNet input ${name} is missing`);
  });

  it('refuses an input whose size does not match the batch', () => {
    const feeds = { ...feedsOf(2), timestep: new Float32Array(3) };
    expect(() => unetFeeds(manifest, feeds)).toThrow(/has 3 values, expected 2 = 2/);
  });
});

describe('UNet fetches and outputs', () => {
  const u = manifest.unet;

  it('fetches only what is wanted', () => {
    expect(unetFetches(manifest, { attention: false, values: false })).toEqual([u.noiseOutput]);
    expect(unetFetches(manifest, { attention: true, values: true })).toEqual([
      u.noiseOutput,
      ...u.layers.map((l) => l.crossAttentionOutput),
      u.valueOutput,
    ]);
  });

  it('turns fetched data into outputs and names a missing or mistyped one', () => {
    const data: Record<string, unknown> = {
      [u.noiseOutput]: new Float32Array(2),
      [u.valueOutput]: new Float32Array(1),
    };
    const out = unetOutputs(manifest, { attention: false, values: true }, (n) => data[n]);
    expect(out.noise).toBe(data[u.noiseOutput]);
    expect(out.crossAttention).toBeUndefined();
    expect(() => unetOutputs(manifest, { attention: true, values: false }, (n) => data[n])).toThrow(
      u.layers[0].crossAttentionOutput,
    );
    expect(() => unetOutputs(manifest, { attention: false, values: false }, () => new Int32Array(1))).toThrow(
      /not float32/,
    );
  });

  it('lists the manifest names a session lacks', () => {
    const session = { inputNames: [u.inputs.sample], outputNames: [u.noiseOutput] };
    const missing = missingUNetNames(manifest, session);
    expect(missing.inputs).toContain(u.masks[0].name);
    expect(missing.inputs).not.toContain(u.inputs.sample);
    expect(missing.outputs).toEqual([...u.layers.map((l) => l.crossAttentionOutput), u.valueOutput]);
  });
});

/**
 * Visual check page for src/ui/views (views.html): every view with the fixture model's real
 * manifest and images, and synthetic attention with known structure, so screenshots (and later
 * e2e) can check them without running the model.
 */
import { StrictMode, useMemo, useRef, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { type OrganismManifest as Manifest, organism, parseManifest } from '../../core/manifest';
import { uniformSource } from '../../core/rng';
import { daamMap, headMeanMap, layerAttention, tokenMap, type AttentionSteps } from '../../core/attention/heatmap';
import { headTokenMass, summarizeLayers } from '../../core/attention/summary';
import {
  AttentionHeatmap,
  ComparisonPanel,
  HeadGrid,
  LayerSummaryChart,
  NeuronStrip,
  TokenStrip,
  comparisonPng,
  downloadBlob,
  rgbToRgba,
  stripTokens,
  tokenLabeller,
  summarySeries,
  svgBlob,
  type DiffMode,
  type HeadRef,
  type Stat,
} from './index';
import './views.css';

const MODEL = new URL('models/fixture-random', document.baseURI).pathname;
const PROMPT_EXTRA = 'on a glorp background'; // "glorp" is not in the vocabulary: shows the unknown marker

function encode(m: Manifest, prompt: string): { ids: number[]; words: string[] } {
  const words = prompt.trim().toLowerCase().split(/\s+/);
  const ids = [
    m.text.bosId,
    ...words.map((w) => {
      const i = m.text.vocab.indexOf(w);
      return i >= 0 ? i : m.text.unkId;
    }),
    m.text.eosId,
  ];
  while (ids.length < m.text.maxTokens) ids.push(m.text.padId);
  return { ids: ids.slice(0, m.text.maxTokens), words };
}

/**
 * Synthetic conditional attention [step][layer] -> [heads, res*res, tokens]: <bos> takes a large
 * share everywhere; each word attends to a blob; the trigger word's blob sharpens over steps and is
 * strongest in the 8x8 layers' heads 1 and 2 (as the feasibility run found for the real model).
 */
function syntheticAttention(m: Manifest, ids: number[], trigger: number): AttentionSteps {
  const rand = uniformSource(7);
  const T = m.text.maxTokens;
  const steps = m.defaults.steps;
  const centres = ids.map(() => [0.2 + 0.6 * rand(), 0.2 + 0.6 * rand()]);
  centres[trigger] = [0.62, 0.38];
  const logits = new Float32Array(T);
  return Array.from({ length: steps }, (_, s) =>
    m.unet.layers.map((layer, li) => {
      const res = layer.resolution;
      const a = new Float32Array(layer.heads * res * res * T);
      const progress = s / Math.max(1, steps - 1);
      for (let h = 0; h < layer.heads; h++) {
        const focus = res === 8 && (h === 1 || h === 2) ? 4.5 : li === 0 && h === 0 ? 1.6 : 0.5;
        for (let y = 0; y < res; y++)
          for (let x = 0; x < res; x++) {
            const u = (x + 0.5) / res;
            const v = (y + 0.5) / res;
            let z = 0;
            for (let t = 0; t < T; t++) {
              const id = ids[t];
              let l: number;
              if (id === m.text.bosId) l = 2.2;
              else if (id === m.text.padId) l = -1.5;
              else if (id === m.text.eosId) l = 0.4;
              else {
                const [cx, cy] = centres[t];
                const sigma = t === trigger ? 0.28 - 0.14 * progress : 0.3;
                const d2 = (u - cx) ** 2 + (v - cy) ** 2;
                const amp = t === trigger ? focus * (0.6 + progress) : 0.9;
                l = amp * Math.exp(-d2 / (2 * sigma * sigma)) + 0.15 * (rand() - 0.5);
              }
              logits[t] = Math.exp(l);
              z += logits[t];
            }
            const base = (h * res * res + y * res + x) * T;
            for (let t = 0; t < T; t++) a[base + t] = logits[t] / z;
          }
      }
      return a;
    }),
  );
}

/** A stand-in "pruned" generation: the baseline blurred and shifted, as if the copy were broken up. */
function fakePruned(rgba: Uint8ClampedArray, w: number, h: number): Uint8ClampedArray {
  const out = new Uint8ClampedArray(rgba.length);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 4; c++) {
        if (c === 3) {
          out[(y * w + x) * 4 + 3] = 255;
          continue;
        }
        let s = 0;
        let n = 0;
        for (let dy = -2; dy <= 2; dy++)
          for (let dx = -2; dx <= 2; dx++) {
            const yy = Math.min(h - 1, Math.max(0, y + dy));
            const xx = Math.min(w - 1, Math.max(0, x + dx + 2));
            s += rgba[(yy * w + xx) * 4 + c];
            n++;
          }
        out[(y * w + x) * 4 + c] = s / n + (x > w / 2 && y < h / 2 && c === 2 ? 60 : 0);
      }
  return out;
}

function Demo({ m, images }: { m: Manifest; images: Uint8Array }) {
  const W = m.image.width;
  const H = m.image.height;
  const art = m.memorized[0];
  const prompt = `${art.caption} ${PROMPT_EXTRA}`;
  const { ids, words } = useMemo(() => encode(m, prompt), [m, prompt]);
  const tokens = useMemo(() => stripTokens(ids, tokenLabeller(m.text.vocab), { ...m.text, words }), [ids, m, words]);
  const trigger = ids.indexOf(m.text.vocab.indexOf(art.trigger));
  const steps = useMemo(() => syntheticAttention(m, ids, trigger), [m, ids, trigger]);
  const layers = m.unet.layers;
  const T = m.text.maxTokens;

  const baseline = useMemo(
    () => rgbToRgba(images.subarray(art.imageIndex * W * H * 3, (art.imageIndex + 1) * W * H * 3), W, H),
    [images, art, W, H],
  );
  const pruned = useMemo(() => fakePruned(baseline, W, H), [baseline, W, H]);

  const [token, setToken] = useState(trigger);
  const [opacity, setOpacity] = useState(0.6);
  const [layer, setLayer] = useState(1);
  const [head, setHead] = useState<number | 'mean'>('mean');
  const [step, setStep] = useState(steps.length - 1);
  const [hoverHead, setHoverHead] = useState<HeadRef | null>(null);
  const heads = layers[0].heads;
  const [prunedHeads, setPrunedHeads] = useState<boolean[]>(() =>
    Array.from({ length: layers.length * heads }, (_, i) => i === 5 || i === 6 || i === 9),
  );
  const valueMask = m.unet.masks.find((k) => k.name === 'cross_attn_value_mask');
  const units = valueMask?.units ?? 16;
  const [prunedNeurons, setPrunedNeurons] = useState<boolean[]>(() =>
    Array.from({ length: units }, (_, i) => i === 3 || i === 11),
  );
  const [prunedWide, setPrunedWide] = useState<boolean[]>(() =>
    Array.from({ length: 128 }, (_, i) => i >= 40 && i < 44),
  );
  const [diffMode, setDiffMode] = useState<DiffMode>('magnitude');
  const daamSvg = useRef<SVGSVGElement>(null);

  const daam = useMemo(
    () => daamMap(steps, layers, T, token, { width: W, height: H }),
    [steps, layers, T, token, W, H],
  );
  const scores = useMemo(() => headTokenMass(steps, layers, T, [token]), [steps, layers, T, token]);
  const summaries = useMemo(() => summarizeLayers(steps, layers, T), [steps, layers, T]);
  const tokenWeights = useMemo(() => {
    // mean over layers of each token's attention mass: the bar under each token
    const w = new Float32Array(T);
    for (const s of summaries) for (let t = 0; t < T; t++) w[t] += s.tokenMass[t] / summaries.length;
    return w;
  }, [summaries, T]);

  // The per-layer view follows a hovered head (linked view), else the selects.
  const shownLayer = hoverHead ? hoverHead.layer : layer;
  const shownHead = hoverHead ? hoverHead.head : head;
  const layerMap = useMemo(() => {
    const a = layerAttention(steps[step][shownLayer], layers[shownLayer], T);
    return shownHead === 'mean' ? headMeanMap(a, token) : tokenMap(a, shownHead, token);
  }, [steps, step, shownLayer, shownHead, layers, T, token]);
  const res = layers[shownLayer].resolution;
  const tokenText = tokens.find((t) => t.position === token)?.text ?? `#${token}`;

  // Synthetic demo numbers, standing in for the metrics module's output.
  const baselineStats: Stat[] = [
    {
      label: 'nearest training image',
      value: 0.962,
      hint: 'cosine similarity to the closest training image (synthetic)',
    },
    { label: 'memorization score', value: 2.31, format: '.2f', hint: 'noise gap, Wen et al. (synthetic)' },
  ];
  const prunedStats: Stat[] = [
    {
      label: 'nearest training image',
      value: 0.614,
      hint: 'cosine similarity to the closest training image (synthetic)',
    },
    { label: 'memorization score', value: 0.87, format: '.2f', hint: 'noise gap, Wen et al. (synthetic)' },
  ];
  const wideScores = useMemo(() => {
    const r = uniformSource(3);
    return Float32Array.from({ length: 128 }, (_, i) =>
      i === 41 ? 6.2 : i === 42 ? 4.8 : Math.abs(r() * 2 - 1) * 1.6,
    );
  }, []);
  const fixtureScores = useMemo(() => {
    const r = uniformSource(5);
    return Float32Array.from({ length: units }, (_, i) => (i === 3 ? 4.1 : (r() - 0.5) * 2.4));
  }, [units]);

  return (
    <main className="demo">
      <header>
        <h1>Views check</h1>
        <p>
          Model <code>{m.id}</code> ({layers.length} layers × {heads} heads, {T} tokens). Images are the manifest’s
          memorized artwork “{art.id}”; attention, scores and metrics are <strong>synthetic</strong>.
        </p>
      </header>

      <section className="demo-block" data-testid="tokens">
        <h2>Prompt</h2>
        <TokenStrip
          tokens={tokens}
          selected={token}
          onSelect={setToken}
          weights={tokenWeights}
          weightLabel="mean attention"
        />
      </section>

      <section className="demo-block demo-row" data-testid="heatmaps">
        <AttentionHeatmap
          image={baseline}
          imageWidth={W}
          imageHeight={H}
          map={daam}
          mapWidth={W}
          mapHeight={H}
          title={`“${tokenText}”`}
          subtitle={`DAAM · all layers · ${steps.length} steps`}
          legendTitle="attention (÷ max)"
          opacity={opacity}
          onOpacityChange={setOpacity}
          domain={[0, 1]}
          svgRef={daamSvg}
        />
        <div className="demo-col">
          <AttentionHeatmap
            image={baseline}
            imageWidth={W}
            imageHeight={H}
            map={layerMap}
            mapWidth={res}
            mapHeight={res}
            title={`“${tokenText}”`}
            subtitle={`${layers[shownLayer].name} · ${shownHead === 'mean' ? 'mean of heads' : `head ${shownHead}`} · step ${step + 1}/${steps.length}`}
            legendTitle="attention probability"
            opacity={opacity}
            interpolation="nearest"
          />
          <div className="demo-controls">
            <label>
              Layer{' '}
              <select value={layer} onChange={(e) => setLayer(Number(e.currentTarget.value))}>
                {layers.map((l, i) => (
                  <option key={l.name} value={i}>
                    {l.name} ({l.resolution}×{l.resolution})
                  </option>
                ))}
              </select>
            </label>
            <label>
              Head{' '}
              <select
                value={head}
                onChange={(e) => setHead(e.currentTarget.value === 'mean' ? 'mean' : Number(e.currentTarget.value))}
              >
                <option value="mean">mean</option>
                {Array.from({ length: heads }, (_, h) => (
                  <option key={h} value={h}>
                    {h}
                  </option>
                ))}
              </select>
            </label>
            <label>
              Step {step + 1}{' '}
              <input
                type="range"
                min={0}
                max={steps.length - 1}
                value={step}
                onChange={(e) => setStep(Number(e.currentTarget.value))}
              />
            </label>
          </div>
        </div>
      </section>

      <section className="demo-block demo-row" data-testid="grids">
        <HeadGrid
          layers={layers}
          scores={scores}
          pruned={prunedHeads}
          onPrunedChange={setPrunedHeads}
          scoreLabel={`mean attention on “${tokenText}”`}
          onHover={setHoverHead}
          highlighted={hoverHead?.index ?? null}
        />
        <div className="demo-col">
          <NeuronStrip
            layerName={layers[1].name}
            scores={fixtureScores}
            pruned={prunedNeurons}
            onPrunedChange={setPrunedNeurons}
            scoreLabel="activation z-score (NeMo)"
            columns={Math.min(16, units)}
          />
          <NeuronStrip
            layerName={`${layers[0].name} (width 128 check)`}
            scores={wideScores}
            pruned={prunedWide}
            onPrunedChange={setPrunedWide}
            scoreLabel="activation |z| (NeMo)"
          />
        </div>
      </section>

      <section className="demo-block" data-testid="comparison">
        <h2>Baseline vs pruned</h2>
        <ComparisonPanel
          baseline={baseline}
          pruned={pruned}
          width={W}
          height={H}
          baselineStats={baselineStats}
          prunedStats={prunedStats}
          prunedLabel={`Pruned (${prunedHeads.filter(Boolean).length} heads)`}
          diffMode={diffMode}
          onDiffModeChange={setDiffMode}
        />
        <div className="demo-controls">
          <button type="button" onClick={() => daamSvg.current && downloadBlob(svgBlob(daamSvg.current), 'daam.svg')}>
            Export heatmap SVG
          </button>
          <button
            type="button"
            onClick={() =>
              void comparisonPng({
                baseline,
                pruned,
                width: W,
                height: H,
                baselineStats,
                prunedStats,
                diffMode,
                caption: prompt,
              }).then((b) => downloadBlob(b, 'comparison.png'))
            }
          >
            Export comparison PNG
          </button>
        </div>
      </section>

      <section className="demo-block" data-testid="summary">
        <LayerSummaryChart
          layers={layers}
          series={summarySeries(summaries, { position: token, text: tokenText })}
          title={`Attention per layer (mean over ${steps.length} steps)`}
        />
      </section>
    </main>
  );
}

const demoCss = `
  body { margin: 0; background: #f4f4f7; font-family: system-ui, sans-serif; color: #1b1b1f; }
  .demo { max-width: 1200px; margin: 0 auto; padding: 16px; display: grid; gap: 16px; }
  .demo h1 { font-size: 1.3rem; margin: 0 0 4px; }
  .demo h2 { font-size: 1rem; margin: 0 0 8px; }
  .demo header p { margin: 0; color: #5b5b66; }
  .demo-block { background: #fff; border: 1px solid #d4d4dc; border-radius: 8px; padding: 14px; min-width: 0; }
  .demo-row { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
  .demo-col { display: flex; flex-direction: column; gap: 16px; min-width: 0; flex: 1 1 300px; }
  .demo-controls { display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: center; font-size: 0.85rem; margin-top: 8px; }
`;

async function main() {
  const root = createRoot(document.getElementById('root')!);
  const style = document.createElement('style');
  style.textContent = demoCss;
  document.head.append(style);
  try {
    const [mj, bin] = await Promise.all([
      fetch(`${MODEL}/manifest.json`).then((r) => r.json()),
      fetch(`${MODEL}/memorized.bin`).then((r) => r.arrayBuffer()),
    ]);
    const parsed = parseManifest(mj);
    if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
    root.render(
      <StrictMode>
        <Demo m={organism(parsed.manifest)} images={new Uint8Array(bin)} />
      </StrictMode>,
    );
    document.body.dataset.ready = 'true';
  } catch (e) {
    root.render(<pre role="alert">{String(e)}</pre>);
  }
}

void main();

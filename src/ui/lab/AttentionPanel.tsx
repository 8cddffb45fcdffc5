/**
 * Cross-attention of the current generation: the prompt's tokens (hover or focus one to see its
 * maps), a DAAM map over heads, layers and steps, a map for one layer, head and step (it follows
 * the head under the pointer in the pruning grid), and per-layer summaries. The numbers come from
 * the analysis worker; this component only draws. Closing the panel stops attention capture.
 */
import { useId, useMemo, useRef, useState } from 'react';
import {
  AttentionHeatmap,
  LayerSummaryChart,
  TokenStrip,
  downloadBlob,
  stripTokens,
  tokenLabeller,
  svgBlob,
  type SummarySeries,
} from '../views';
import { useLab, useLabActions } from '../StoreContext';
import { Jargon } from '../glossary/InfoTip';
import { fileStem } from './files';

export function AttentionPanel() {
  const manifest = useLab((s) => s.manifest);
  const result = useLab((s) => s.result);
  const allMaps = useLab((s) => s.maps);
  const focus = useLab((s) => s.focus);
  const hover = useLab((s) => s.hoverHead);
  const capture = useLab((s) => s.captureAttention);
  const actions = useLabActions();
  const [opacity, setOpacity] = useState(0.6);
  const daamRef = useRef<SVGSVGElement>(null);
  const layerRef = useRef<SVGSVGElement>(null);
  const ids = { layer: useId(), head: useId(), step: useId(), variant: useId() };

  const tokens = useMemo(
    () =>
      manifest && result
        ? stripTokens(result.tokenIds, tokenLabeller(manifest.text.vocab, result.tokenLabels), {
            ...manifest.text,
            words: result.tokenWords,
          })
        : [],
    [manifest, result],
  );

  const onToggle = (open: boolean) => {
    actions.setCaptureAttention(open);
    // Re-run once so the maps exist; the run is the same experiment, so the pixels do not change.
    if (open && result && !result.hasAttention) actions.generate();
  };

  const body = () => {
    if (!manifest || !result)
      return <p className="hint">Generate an image to see where each word of the prompt acts.</p>;
    if (!result.hasAttention) return <p className="hint">This run was made without attention maps.</p>;
    const tokenText = tokens.find((t) => t.position === focus.token)?.text ?? '';
    // Maps of the previous run stay in the store until this run's arrive; never draw them over this image.
    const maps = allMaps && allMaps.generation === result.id ? allMaps : null;
    const layers = manifest.unet.layers;
    const shown = maps?.focus;
    const layer = shown ? layers[shown.layer] : null;
    const { width, height } = manifest.image;
    const variantImage = focus.variant === 'baseline' && result.baseline ? result.baseline.image : result.image;
    const series: SummarySeries[] = maps
      ? [
          { key: 'entropy', label: 'entropy over tokens (÷ ln T)', values: maps.series.entropy },
          { key: 'bos', label: 'mass on <bos>', values: maps.series.bos },
          { key: 'token', label: `mass on “${tokenText}”`, values: maps.series.token },
        ]
      : [];
    const stepText = (s: number | 'all') => (s === 'all' ? `all ${maps?.steps ?? ''} steps` : `step ${s + 1}`);
    const stem = fileStem(result.params.prompt, result.params.seed);
    return (
      <>
        <TokenStrip
          tokens={tokens}
          selected={focus.token}
          onSelect={(position) => focus.token !== position && actions.setFocus({ token: position })}
          weights={maps?.tokenWeights}
          weightLabel="mean attention"
          label="Prompt tokens: hover or focus one to see its maps"
        />
        <div className="lab-controls">
          {result.baseline ? (
            <label htmlFor={ids.variant}>
              Image
              <select
                id={ids.variant}
                value={focus.variant}
                onChange={(e) => actions.setFocus({ variant: e.currentTarget.value as 'pruned' | 'baseline' })}
              >
                <option value="pruned">pruned</option>
                <option value="baseline">baseline</option>
              </select>
            </label>
          ) : null}
          <label htmlFor={ids.layer}>
            Layer
            <select
              id={ids.layer}
              value={focus.layer}
              onChange={(e) => actions.setFocus({ layer: Number(e.currentTarget.value) })}
            >
              {layers.map((l, i) => (
                <option key={l.name} value={i}>
                  {l.name} ({l.resolution}×{l.resolution})
                </option>
              ))}
            </select>
          </label>
          <label htmlFor={ids.head}>
            Head
            <select
              id={ids.head}
              value={String(focus.head)}
              onChange={(e) =>
                actions.setFocus({ head: e.currentTarget.value === 'mean' ? 'mean' : Number(e.currentTarget.value) })
              }
            >
              <option value="mean">mean of heads</option>
              {Array.from({ length: layers[focus.layer]?.heads ?? 0 }, (_, h) => (
                <option key={h} value={h}>
                  head {h}
                </option>
              ))}
            </select>
          </label>
          <label htmlFor={ids.step}>
            Step
            <select
              id={ids.step}
              value={String(focus.step)}
              onChange={(e) =>
                actions.setFocus({ step: e.currentTarget.value === 'all' ? 'all' : Number(e.currentTarget.value) })
              }
            >
              <option value="all">mean of all steps</option>
              {Array.from({ length: result.noiseGaps.length }, (_, s) => (
                <option key={s} value={s}>
                  step {s + 1}
                </option>
              ))}
            </select>
          </label>
        </div>
        <p className="hint lab-note">
          The first map (<Jargon term="daam">DAAM</Jargon>) shows where the model looked while reading the word; the
          second, one layer and head. The chart shows per layer the <Jargon term="entropy">entropy</Jargon> and the mass
          on the <Jargon term="startToken">start token</Jargon>.
        </p>
        {maps && layer && shown ? (
          <div className="lab-heatmaps" data-testid="heatmaps">
            <AttentionHeatmap
              image={variantImage.data}
              imageWidth={width}
              imageHeight={height}
              map={maps.daam}
              mapWidth={width}
              mapHeight={height}
              title={`“${tokenText}” · DAAM`}
              subtitle={`all heads, layers, ${maps.steps} steps`}
              legendTitle="attention (÷ max)"
              opacity={opacity}
              domain={[0, 1]}
              size={200}
              svgRef={daamRef}
            />
            <AttentionHeatmap
              image={variantImage.data}
              imageWidth={width}
              imageHeight={height}
              map={maps.layerMap}
              mapWidth={maps.layerResolution}
              mapHeight={maps.layerResolution}
              title={`“${tokenText}” · ${layer.name}`}
              subtitle={`${shown.head === 'mean' ? 'mean of heads' : `head ${shown.head}`} · ${stepText(shown.step)}${hover ? ' (hovered)' : ''}`}
              legendTitle="attention probability"
              opacity={opacity}
              interpolation="nearest"
              size={200}
              svgRef={layerRef}
            />
          </div>
        ) : (
          <p className="hint">Computing maps…</p>
        )}
        <div className="lab-controls">
          <label className="lab-slider">
            Overlay {Math.round(opacity * 100)}%
            <input
              type="range"
              min={0}
              max={1}
              step={0.05}
              value={opacity}
              onChange={(e) => setOpacity(Number(e.currentTarget.value))}
            />
          </label>
          <button
            type="button"
            className="secondary small"
            disabled={!maps}
            onClick={() => daamRef.current && downloadBlob(svgBlob(daamRef.current), `${stem}-daam.svg`)}
            data-testid="export-daam-svg"
          >
            DAAM map SVG
          </button>
          <button
            type="button"
            className="secondary small"
            disabled={!maps}
            onClick={() => layerRef.current && downloadBlob(svgBlob(layerRef.current), `${stem}-layer.svg`)}
          >
            Layer map SVG
          </button>
        </div>
        {maps ? (
          <LayerSummaryChart
            layers={layers}
            series={series}
            title={`Attention per layer (${stepText('all')})`}
            height={180}
          />
        ) : null}
      </>
    );
  };

  return (
    <details
      className="panel lab-panel"
      open={capture}
      onToggle={(e) => onToggle(e.currentTarget.open)}
      data-testid="attention-panel"
    >
      <summary>
        <h2>Attention heatmaps</h2>
      </summary>
      {capture ? body() : null}
    </details>
  );
}

/**
 * Pruning: the layer x head grid of cross-attention heads (click toggles, shift-click ranges,
 * arrows move), "prune top-k by score", a unit strip for value and feed-forward neurons, and reset.
 * Every change re-runs the experiment at once on the loaded session (masks are model inputs).
 *
 * Grid colours: attribution scores when the science work provides them (store.unitScores), else
 * each head's attention mass on the selected token in the unpruned run, labelled as such.
 */
import { useId, useMemo, useState } from 'react';
import { prunedCount } from '../../core/experiment/experiment';
import type { MaskSpec } from '../../core/manifest';
import { flagsOf, unitsOf } from '../../state/experiment-state';
import { HeadGrid, NeuronStrip, tokenLabeller } from '../views';
import { useLab, useLabActions } from '../StoreContext';
import { InfoTip, Jargon } from '../glossary/InfoTip';
import { MaskLockNote, useMaskLock } from './MaskLock';

/** The mask the head grid edits: one unit per cross-attention head. */
export const HEAD_MASK = 'cross_attn_head_mask';

function layerSlice(units: readonly number[], spec: MaskSpec, layer: number): boolean[] {
  const flags = new Array<boolean>(spec.units).fill(false);
  for (const u of units) if (Math.floor(u / spec.units) === layer) flags[u % spec.units] = true;
  return flags;
}

function withLayer(units: readonly number[], spec: MaskSpec, layer: number, flags: readonly boolean[]): number[] {
  const others = units.filter((u) => Math.floor(u / spec.units) !== layer);
  return [...others, ...unitsOf(flags).map((u) => layer * spec.units + u)].sort((a, b) => a - b);
}

export function PruningPanel() {
  const manifest = useLab((s) => s.manifest);
  const masks = useLab((s) => s.masks);
  const maps = useLab((s) => s.maps);
  const unitScores = useLab((s) => s.unitScores);
  const result = useLab((s) => s.result);
  const focusToken = useLab((s) => s.focus.token);
  const focus = useLab((s) => s.focus);
  const hover = useLab((s) => s.hoverHead);
  const lock = useMaskLock();
  const actions = useLabActions();
  const [k, setK] = useState(4);
  const ids = { k: useId(), mask: useId(), layer: useId() };

  const neuronSpecs = useMemo(() => manifest?.unet.masks.filter((m) => m.name !== HEAD_MASK) ?? [], [manifest]);
  const [neuronMask, setNeuronMask] = useState<string | null>(null);
  const [neuronLayer, setNeuronLayer] = useState(0);

  if (!manifest) {
    return (
      <section className="panel lab-panel" aria-label="Pruning">
        <h2>Pruning</h2>
        <p className="hint">Available once the model is loaded.</p>
      </section>
    );
  }
  const headSpec = manifest.unet.masks.find((m) => m.name === HEAD_MASK);
  const layers = manifest.unet.layers;
  const total = prunedCount(masks);

  const token =
    result && focusToken !== null
      ? (tokenLabeller(manifest.text.vocab, result.tokenLabels)(result.tokenIds[focusToken], focusToken) ?? null)
      : null;
  const tokenWord =
    token && result && focusToken !== null && result.tokenIds[focusToken] === manifest.text.unkId
      ? (result.tokenWords[focusToken - 1] ?? token)
      : token;
  const external = unitScores?.masks[HEAD_MASK];
  const headScores = external ?? maps?.headScores ?? new Float32Array(headSpec ? headSpec.layers * headSpec.units : 0);
  const scoreLabel = external
    ? unitScores!.label
    : maps && tokenWord
      ? `attention mass on “${tokenWord}” (unpruned run)`
      : 'no score yet: generate with attention on';

  // Value neurons first: NeMo found memorization in a few of them.
  const spec =
    neuronSpecs.find((m) => m.name === neuronMask) ??
    neuronSpecs.find((m) => m.name === 'cross_attn_value_mask') ??
    neuronSpecs[0];
  const layerIndex = spec ? Math.min(neuronLayer, spec.layers - 1) : 0;
  const neuronScores =
    spec && unitScores?.masks[spec.name]
      ? unitScores.masks[spec.name].subarray(layerIndex * spec.units, (layerIndex + 1) * spec.units)
      : null;

  return (
    <section className="panel lab-panel" aria-label="Pruning" data-testid="pruning-panel">
      <h2>
        <Jargon term="pruning">Pruning</Jargon>{' '}
        <small className="hint" data-testid="pruned-count">
          {total === 0 ? 'nothing pruned' : `${total} unit${total === 1 ? '' : 's'} pruned`}
        </small>
      </h2>
      <MaskLockNote reason={lock} />
      {headSpec ? (
        <HeadGrid
          locked={lock !== null}
          layers={layers}
          scores={headScores}
          pruned={flagsOf(masks[HEAD_MASK] ?? [], headSpec.layers * headSpec.units)}
          onPrunedChange={(next) => actions.setMasks({ [HEAD_MASK]: unitsOf(next) })}
          scoreLabel={scoreLabel}
          formatScore={(v) => v.toFixed(2)}
          // No scores yet: the light middle of a diverging scale reads as "no data", not as "all low".
          {...(external || maps ? {} : { scheme: 'PuOr' as const, scoreDomain: [-1, 0, 1] })}
          onHover={(h) => actions.setHoverHead(h ? { layer: h.layer, head: h.head } : null)}
          highlighted={
            hover
              ? hover.layer * headSpec.units + hover.head
              : focus.head === 'mean'
                ? null
                : focus.layer * headSpec.units + focus.head
          }
          title="Cross-attention heads (layer × head)"
          info={<InfoTip term="head" />}
        />
      ) : (
        <p className="hint">This model has no cross-attention head mask.</p>
      )}
      {!external ? (
        <p className="hint lab-note">
          Colour: how much each head looks at the selected word (<Jargon term="attentionMass">attention mass</Jargon>),
          until a science job scores the heads by <Jargon term="ablation">ablation</Jargon>.
        </p>
      ) : null}
      <div className="lab-controls">
        <label htmlFor={ids.k}>
          Top
          <input
            id={ids.k}
            type="number"
            min={1}
            max={headScores.length || 1}
            value={k}
            onChange={(e) => setK(Math.max(1, Number(e.currentTarget.value) || 1))}
            className="exact"
          />
        </label>
        <button
          type="button"
          className="secondary small"
          disabled={lock !== null || !(maps || external)}
          onClick={() => actions.pruneTopK(HEAD_MASK, k, headScores)}
          data-testid="prune-top-k"
        >
          Prune top {k} by score
        </button>
        <button
          type="button"
          className="secondary small"
          disabled={lock !== null || total === 0}
          onClick={actions.resetMasks}
          data-testid="reset-masks"
        >
          Reset all
        </button>
      </div>
      {spec ? (
        <div className="lab-neurons">
          <div className="lab-controls">
            <span>
              <Jargon term="valueNeuron">Value</Jargon> and <Jargon term="ffNeuron">feed-forward</Jargon> neurons
            </span>
            <label htmlFor={ids.mask}>
              Units
              <select id={ids.mask} value={spec.name} onChange={(e) => setNeuronMask(e.currentTarget.value)}>
                {neuronSpecs.map((m) => (
                  <option key={m.name} value={m.name}>
                    {m.kind}s ({m.units}/layer)
                  </option>
                ))}
              </select>
            </label>
            <label htmlFor={ids.layer}>
              Layer
              <select id={ids.layer} value={layerIndex} onChange={(e) => setNeuronLayer(Number(e.currentTarget.value))}>
                {Array.from({ length: spec.layers }, (_, l) => (
                  <option key={l} value={l}>
                    {layers[l]?.name ?? `layer ${l}`}
                  </option>
                ))}
              </select>
            </label>
          </div>
          <NeuronStrip
            locked={lock !== null}
            layerName={layers[layerIndex]?.name ?? `layer ${layerIndex}`}
            scores={neuronScores ?? new Float32Array(spec.units)}
            pruned={layerSlice(masks[spec.name] ?? [], spec, layerIndex)}
            onPrunedChange={(next) =>
              actions.setMasks({ [spec.name]: withLayer(masks[spec.name] ?? [], spec, layerIndex, next) })
            }
            scoreLabel={neuronScores ? unitScores!.label : 'no score yet'}
            // Without scores every cell is 0: the light middle of a diverging scale reads as "no data".
            {...(neuronScores ? {} : { scheme: 'PuOr' as const, scoreDomain: [-1, 0, 1] })}
            columns={Math.min(16, spec.units)}
            unitName={spec.kind}
          />
        </div>
      ) : null}
    </section>
  );
}

/**
 * Baseline against pruned, from one batch with the same seed: both images, their difference, and
 * for each the similarity to its nearest training image (that image shown) and the memorization
 * score (Wen's text-conditional noise gap). Without pruning, the one image's scores. While a run
 * is under way the step previews of both are shown. Exports: comparison PNG, experiment JSON.
 */
import { useState } from 'react';
import { prunedCount } from '../../core/experiment/experiment';
import { experimentOf } from '../../state/experiment-state';
import type { VariantScores } from '../../workers/analysis-protocol';
import { MEMORIZATION_STEPS } from '../../core/analysis/scores';
import { ComparisonPanel, PixelImage, comparisonPng, downloadBlob, type DiffMode, type Stat } from '../views';
import { useLab, useLabStore } from '../StoreContext';
import { InfoTip, Jargon } from '../glossary/InfoTip';
import { fileStem } from './files';
import { experimentJson } from './export-json';

function statsOf(v: VariantScores | undefined): Stat[] {
  if (!v) return [{ label: 'scores', value: 'computing…' }];
  const out: Stat[] = [];
  if (v.replication) {
    out.push({
      label: 'nearest training image, cosine',
      value: v.replication.cosine,
      hint: 'cosine similarity to the closest training image (1 = same direction)',
      info: <InfoTip term="cosine" />,
    });
    out.push({
      label: 'tiled L2 distance',
      value: v.replication.tiledL2,
      hint: 'largest per-tile RMSE over a 4×4 grid (Carlini et al.); small = a copy',
      info: <InfoTip term="tiledL2" />,
    });
  }
  out.push({
    label: 'memorization score (Wen)',
    value: v.memorization,
    hint: `mean of ‖ε(text) − ε(empty)‖ over the first ${MEMORIZATION_STEPS} steps; large = memorized prompt`,
    info: <InfoTip term="wenScore" />,
  });
  return out;
}

function Nearest({ v, label, size }: { v: VariantScores | undefined; label: string; size: number }) {
  if (!v?.nearest) return null;
  return (
    <figure className="lab-nearest">
      <figcaption>{label}</figcaption>
      <PixelImage
        rgba={v.nearest.data}
        width={v.nearest.width}
        height={v.nearest.height}
        size={size}
        label={`${label}: ${v.nearestLabel}`}
      />
      <p className="hint">{v.nearestLabel}</p>
    </figure>
  );
}

export function ComparisonSection() {
  const result = useLab((s) => s.result);
  const previews = useLab((s) => s.previews);
  const status = useLab((s) => s.status);
  const scores = useLab((s) => s.scores);
  const manifest = useLab((s) => s.manifest);
  const store = useLabStore();
  const [diffMode, setDiffMode] = useState<DiffMode>('magnitude');
  if (!manifest) return null;
  const { width, height } = manifest.image;
  const live = status === 'generating' && previews.length > 0 ? previews[previews.length - 1] : null;
  const s = scores && result && scores.generation === result.id ? scores.variants : null;
  const size = 150;

  if (live?.baseline) {
    return (
      <section className="lab-compare" aria-label="Baseline and pruned" data-testid="comparison" data-kind="preview">
        <h2>
          Baseline vs pruned · step {live.step} of {live.of}
        </h2>
        <ComparisonPanel
          baseline={live.baseline.data}
          pruned={live.image.data}
          width={width}
          height={height}
          size={size}
          prunedLabel="Pruned"
        />
      </section>
    );
  }
  if (!result || live) return null;

  const pruned = prunedCount(result.masks);
  const stem = fileStem(result.params.prompt, result.params.seed);
  const exportJson = () => {
    const experiment = experimentOf(store.getState());
    downloadBlob(
      new Blob([experimentJson(result, s, experiment, location.href)], { type: 'application/json' }),
      `${stem}.json`,
    );
  };

  if (!result.baseline) {
    return (
      <section className="lab-compare" aria-label="Scores" data-testid="comparison" data-kind="single">
        <h2>Scores</h2>
        <div className="lab-single">
          <dl className="mv-stats">
            {statsOf(s?.[0]).map((st) => (
              <div key={st.label} className="mv-stat" title={st.hint}>
                <dt>
                  {st.label}
                  {st.info}
                </dt>
                <dd data-testid={`score-${st.label.split(' ')[0]}`}>
                  {typeof st.value === 'number' ? st.value.toFixed(3) : st.value}
                </dd>
              </div>
            ))}
          </dl>
        </div>
        <p className="hint">
          Click heads in the pruning grid to compare this image with a pruned one from the same seed.
        </p>
        <div className="lab-controls">
          <button type="button" className="secondary small" onClick={exportJson} data-testid="export-json">
            Experiment JSON
          </button>
        </div>
      </section>
    );
  }

  const baselineStats = statsOf(s?.[0]);
  const prunedStats = statsOf(s?.[1]);
  const exportPng = () =>
    void comparisonPng({
      baseline: result.baseline!.image.data,
      pruned: result.image.data,
      width,
      height,
      baselineStats,
      prunedStats,
      prunedLabel: `Pruned (${pruned} units)`,
      diffMode,
      caption: `“${result.params.prompt}” · seed ${result.params.seed} · ${result.params.steps} steps · guidance ${result.params.guidance}`,
    }).then((b) => downloadBlob(b, `${stem}-comparison.png`));

  return (
    <section className="lab-compare" aria-label="Baseline and pruned" data-testid="comparison" data-kind="pair">
      <h2>
        <Jargon term="baseline">Baseline</Jargon> vs <Jargon term="pruning">pruned</Jargon> · same seed, one batch
      </h2>
      <ComparisonPanel
        baseline={result.baseline.image.data}
        pruned={result.image.data}
        width={width}
        height={height}
        size={size}
        prunedLabel={`Pruned (${pruned} unit${pruned === 1 ? '' : 's'})`}
        baselineStats={baselineStats}
        prunedStats={prunedStats}
        diffMode={diffMode}
        onDiffModeChange={setDiffMode}
      >
        <Nearest v={s?.[0]} label="Nearest to baseline" size={size} />
        <Nearest v={s?.[1]} label="Nearest to pruned" size={size} />
      </ComparisonPanel>
      <div className="lab-controls">
        <button type="button" className="secondary small" onClick={exportPng} data-testid="export-png">
          Comparison PNG
        </button>
        <button type="button" className="secondary small" onClick={exportJson} data-testid="export-json">
          Experiment JSON
        </button>
      </div>
    </section>
  );
}

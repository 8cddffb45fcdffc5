/**
 * The unlearning variants of the loaded model's base (Forget-Me-Not, EraseDiff, DUGE stages), and
 * UniForget's learned masks: apply a shipped mask preset, run the current prompt/seed/masks on
 * every variant side by side, and evaluate all of them in one table. Variant files are fetched
 * only when a job first needs them (the progress bar names each download).
 */
import { format } from 'd3';
import { chwToRgba } from '../../core/image';
import { prunedCount } from '../../core/experiment/experiment';
import type { RateEstimate } from '../../core/metrics/wilson';
import { type VariantReport, rateOn } from '../../core/science/variants';
import { familyOf } from '../../state/model-index';
import type { ScienceResultMap } from '../../core/jobs';
import { ExportResult } from '../science/ExportResult';
import { Meta, RunningJob, useScienceIdle } from '../science/RunningJob';
import { useLab, useLabActions } from '../StoreContext';
import { Jargon } from '../glossary/InfoTip';
import { PixelImage } from '../views';

const METHOD_LABEL: Record<string, string> = { fmn: 'Forget-Me-Not', erasediff: 'EraseDiff', duge: 'DUGE stage' };
const pct = format('.0%');
const f3 = format('.3f');

export function VariantsPanel() {
  const models = useLab((s) => s.models);
  const model = useLab((s) => s.model);
  const manifest = useLab((s) => s.manifest);
  // before any early return: hooks run in the same order on every render
  const idle = useScienceIdle();
  const science = useLab((s) => s.science);
  const masks = useLab((s) => s.masks);
  const actions = useLabActions();
  if (!model || !manifest) return null;
  const family = familyOf(models, model);
  const presets = manifest.presets ?? [];
  if (family.length < 2 && presets.length === 0) return null;
  const labelOf = (id: string) => models.find((m) => m.id === id)?.label ?? id;
  const compared = science.results.variants;
  const table = science.results['variant-table'];

  return (
    <section className="panel lab-panel" aria-label="Unlearning variants" data-testid="variants-panel">
      <h2>
        <Jargon term="unlearning">Unlearning variants</Jargon>
      </h2>
      <RunningJob panel="variants" />
      {presets.length > 0 ? (
        <div className="lab-controls" role="group" aria-label="Shipped masks">
          <span>
            Mask presets the model ships (<Jargon term="uniforget">UniForget β</Jargon>, learned on neutral prompts
            only):
          </span>
          {presets.map((p) => (
            <button
              key={p.id}
              type="button"
              className="secondary small"
              disabled={!idle}
              onClick={() => actions.applyShippedPreset(p.id)}
              title={`${p.method}${p.beta !== undefined ? `, beta ${p.beta}` : ''}: prunes ${pct(p.fractionPruned)} of all mask units`}
              data-testid={`shipped-preset-${p.id}`}
            >
              {p.beta !== undefined
                ? `β ${p.beta} (${pct(p.fractionPruned)} pruned)`
                : p.sparsity !== undefined && p.unitKind
                  ? `${p.method} (${pct(p.sparsity)} of ${p.unitKind})`
                  : `${p.id} (${pct(p.fractionPruned)} pruned)`}
            </button>
          ))}
        </div>
      ) : manifest.variant ? (
        <p className="hint">
          UniForget&apos;s masks ship with the base model: load it to apply one (they fit every variant, so a mask then
          stays on when you switch).
        </p>
      ) : null}
      {family.length > 1 ? (
        <>
          <p className="hint">
            {family.length - 1} variant{family.length === 2 ? '' : 's'} of {labelOf(family[0].id)}. Side by side runs
            this prompt and seed on each
            {prunedCount(masks) > 0 ? `, with and without the current mask (${prunedCount(masks)} units)` : ''}; the
            table scores them all on the memorized captions and neutral prompts.
          </p>
          <div className="lab-controls">
            <button
              type="button"
              className="secondary small"
              disabled={!idle}
              onClick={actions.compareVariants}
              data-testid="variants-compare"
            >
              Side by side
            </button>
            <button
              type="button"
              className="secondary small"
              disabled={!idle}
              onClick={actions.runVariantTable}
              data-testid="variants-evaluate"
            >
              Evaluate all variants
            </button>
          </div>
          {compared ? <VariantGrid result={compared} labelOf={labelOf} /> : null}
          {table ? <VariantTable report={table} labelOf={labelOf} /> : null}
        </>
      ) : null}
    </section>
  );
}

function VariantGrid({ result, labelOf }: { result: ScienceResultMap['variants']; labelOf: (id: string) => string }) {
  return (
    <div data-testid="variants-grid">
      <p className="hint">
        “{result.prompt}”, seed {result.seed}
        {result.masked ? ': each model without (left) and with (right) the mask' : ''}
        <Meta job="variants" />
      </p>
      <div className="variants-grid">
        {result.cells.map((cell) => (
          <figure key={cell.model} className="variants-cell" data-testid="variants-cell" data-model={cell.model}>
            <figcaption>{labelOf(cell.model)}</figcaption>
            <div className="variants-images">
              {cell.images.map((img) => {
                const size = Math.round(Math.sqrt(img.image.length / 3));
                return (
                  <div key={String(img.masked)}>
                    <PixelImage
                      rgba={chwToRgba(Float32Array.from(img.image), size, size)}
                      width={size}
                      height={size}
                      size={96}
                      label={`${labelOf(cell.model)}${img.masked ? ', masked' : ''}`}
                    />
                    <p className="hint" title="nearest training image and the tiled L2 distance to it (small = a copy)">
                      {img.nearestLabel} · {f3(img.nearest.tiledL2)}
                    </p>
                  </div>
                );
              })}
            </div>
          </figure>
        ))}
      </div>
    </div>
  );
}

function VariantTable({ report, labelOf }: { report: VariantReport; labelOf: (id: string) => string }) {
  const base = report.rows.find((r) => r.method === null && r.mask === 'none');
  const detector = report.calibration.rule === 'embedding';
  const short = (r: VariantReport['rows'][number]) =>
    r.method ? `${METHOD_LABEL[r.method] ?? r.method}${r.stage ? ` ${r.stage}` : ''}` : 'base';
  return (
    <div data-testid="variants-table">
      <p className="hint">
        Replication: share of memorized-caption generations ({report.options.seeds.length} seed
        {report.options.seeds.length === 1 ? '' : 's'}) the copy rule counts as copies (
        {detector
          ? `the copy detector: similarity to a training image above τ = ${f3(report.calibration.tau ?? 0)}`
          : `a planted image nearest, Carlini's normalised distance below α = ${f3(report.calibration.alpha)}`}
        ), with its 95% interval; “forgotten” is each variant&apos;s own forgotten artworks, “base” the unchanged model
        on the same ones.{detector ? ' “Ratio rule”: the pixel rule the detector replaced, for comparison.' : ''}{' '}
        Change: RMSE to the base model&apos;s image for the same neutral prompt and seed.
        <Meta job="variant-table" />
        <ExportResult job="variant-table" />
      </p>
      <div style={{ overflowX: 'auto' }}>
        <table className="variants-table">
          <thead>
            <tr>
              <th scope="col">model</th>
              <th scope="col">mask</th>
              <th scope="col" title="the variant's own forgotten artworks (base: all of them)">
                forgotten
              </th>
              <th scope="col" title="the base model on the same artworks">
                base
              </th>
              {detector ? (
                <th scope="col" title="the forgotten artworks by the pixel ratio rule">
                  ratio rule
                </th>
              ) : null}
              <th scope="col">other memorized</th>
              <th scope="col">adherence</th>
              <th scope="col">change</th>
              <th scope="col">cost</th>
            </tr>
          </thead>
          <tbody>
            {report.rows.map((r) => (
              <tr key={`${r.model}/${r.mask}`} data-model={r.model} data-mask={r.mask}>
                <th scope="row" title={labelOf(r.model)}>
                  {short(r)}
                </th>
                <td>{r.maskLabel}</td>
                <td data-cell="forgotten">
                  {pct(r.forgottenReplication.rate)} <Interval rate={r.forgottenReplication} />
                </td>
                <td>{base ? pct(rateOn(base, r.forgotten)) : '–'}</td>
                {detector ? <td data-cell="forgotten-ratio">{pct(r.forgottenReplication.byRule.ratio.rate)}</td> : null}
                <td data-cell="other">
                  {pct(r.otherReplication.rate)} <Interval rate={r.otherReplication} />
                </td>
                <td>{pct(r.utility.adherence)}</td>
                <td>{f3(r.utility.imageChange)}</td>
                <td>{r.cost ? `${r.cost.seconds.toFixed(0)} s` : '–'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

/** A rate's 95% Wilson interval and counts, small beside the rate. */
function Interval({ rate }: { rate: RateEstimate }) {
  return (
    <span className="hint rate-interval" title={`${rate.count} of ${rate.total}`}>
      [{Math.round(rate.lo * 100)}, {Math.round(rate.hi * 100)}]
    </span>
  );
}

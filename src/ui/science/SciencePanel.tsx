/**
 * "Find memorization": the science jobs of the inference worker, one button each, over the loaded
 * model. One job runs at a time with a progress bar and Cancel; results are cached per experiment
 * in the worker, so asking again is instant. Detection and NeMo work on the current prompt;
 * attribution colours the head grid; NeMo's neurons and the universal mask (heads or value
 * neurons) become the experiment's masks (so the URL carries them and the comparison re-runs).
 */
import { useId, useMemo } from 'react';
import { format } from 'd3';
import { DETECTORS, detectionCalls, formatDuration, upperBoundFromGeneration } from '../../core/science';
import { type AblationUnits, prunedCount } from '../../core/science';
import { type DefaultJob, isSmokeModel, labSizes } from '../../core/jobs';
import { studySelectionOf } from '../../state/slices/prompt-sets';
import { DetectionTable, ParetoChart, ProxyTable, RocChart } from '../views/science';
import { useLab, useLabActions } from '../StoreContext';
import { InfoTip } from '../glossary/InfoTip';
import './science.css';
import type { Manifest } from '../../core/manifest';
import type { StudySelection } from '../../core/prompts';
import { ExportResult } from './ExportResult';
import { PromptSets } from './PromptSets';
import { Meta, RunningJob, useScienceIdle } from './RunningJob';

const f3 = format('.3f');

export function SciencePanel() {
  const manifest = useLab((s) => s.manifest);
  // before any early return: hooks run in the same order on every render
  const idle = useScienceIdle();
  const prompt = useLab((s) => s.prompt);
  const science = useLab((s) => s.science);
  const unitScores = useLab((s) => s.unitScores);
  const promptSets = useLab((s) => s.promptSets);
  const lastStepMs = useLab((s) => s.result?.meanStepMs ?? null);
  const actions = useLabActions();
  const sliderId = useId();
  const selection = useMemo(() => studySelectionOf({ manifest, promptSets }), [manifest, promptSets]);

  if (!manifest) {
    return (
      <section className="panel lab-panel" aria-label="Find memorization">
        <h2>Find memorization</h2>
        <p className="hint">Available once the model is loaded.</p>
      </section>
    );
  }
  const { results, sparsity } = science;
  const trimmed = prompt.trim();
  const detection = results.detect?.[0]?.prompt === trimmed ? results.detect[0] : null;
  const nemo = results.nemo ?? null;
  const universal = results.universal ?? null;
  const run = (job: DefaultJob) => () => actions.runScience(job);
  const button = (job: DefaultJob, label: string, needsPrompt = false, blocked = false) => (
    <button
      type="button"
      className="secondary small"
      disabled={!idle || (needsPrompt && !trimmed) || blocked}
      onClick={run(job)}
      data-testid={`science-${job}`}
    >
      {label}
    </button>
  );

  return (
    <section className="panel lab-panel science-panel" aria-label="Find memorization" data-testid="science-panel">
      <h2>Find memorization</h2>
      {isSmokeModel(manifest) ? (
        <p className="hint lab-note">
          This model was never trained: the jobs run at smoke-test size and their numbers show the plumbing, not
          memorization.
        </p>
      ) : null}
      <RunningJob panel="science" />

      <h3>Prompt sets</h3>
      <PromptSets />

      <h3>
        Detection <InfoTip term="wenScore" />
        <InfoTip term="roc" />
      </h3>
      <div className="lab-controls">
        {button('detect', 'Detect for this prompt', true)}
        {button('study', 'Run detection study', false, Boolean(selection.problem))}
      </div>
      <StudySize manifest={manifest} selection={selection} stepMs={lastStepMs} />
      {detection ? (
        <dl className="science-scores" data-testid="science-detection">
          {DETECTORS.map((d) => (
            <div key={d.key}>
              <dt title={`${d.paper}; ${d.direction > 0 ? 'higher' : 'lower'} means memorized`}>
                {d.label} {d.direction > 0 ? '↑' : '↓'}
              </dt>
              <dd>{f3(detection[d.key])}</dd>
            </div>
          ))}
        </dl>
      ) : null}
      {detection ? (
        <p className="hint">
          <Meta job="detect" />
          <ExportResult job="detect" />
        </p>
      ) : null}
      {results.study ? (
        <div data-testid="science-roc">
          <RocChart
            rocs={results.study.rocs}
            counts={{
              memorized: results.study.prompts.filter((p) => p.group === 'memorized').length,
              neutral: results.study.prompts.filter((p) => p.group === 'neutral').length,
            }}
          />
          <Meta job="study" />
          <ExportResult job="study" />
          <details>
            <summary>Scores per prompt</summary>
            <div style={{ overflowX: 'auto' }}>
              <DetectionTable prompts={results.study.prompts} scores={results.study.scores} />
            </div>
          </details>
        </div>
      ) : null}

      <h3>
        Localization <InfoTip term="ablation" />
        <InfoTip term="nemo" />
      </h3>
      <div className="lab-controls">
        {button('attribution', 'Score heads by ablation')}
        {button('nemo', 'Localize (NeMo)', true)}
      </div>
      {results.attribution ? (
        <p className="hint" data-testid="science-attribution">
          The head grid is coloured by {unitScores ? unitScores.label : 'ablation attribution'}.
          <Meta job="attribution" />
          <ExportResult job="attribution" />
        </p>
      ) : null}
      {nemo ? (
        <div className="lab-controls" data-testid="science-nemo-result">
          <span>
            NeMo selected <strong>{nemo.search.refined.length}</strong> value neuron
            {nemo.search.refined.length === 1 ? '' : 's'} for “{nemo.prompt}”
            {nemo.search.found ? '' : ' (none brought seed consistency below the neutral target)'}
            <Meta job="nemo" />
          </span>
          <button
            type="button"
            className="secondary small"
            disabled={!idle || nemo.search.refined.length === 0}
            onClick={actions.applyNemoMask}
            data-testid="science-apply-nemo"
          >
            Apply mask
          </button>
          <ExportResult job="nemo" />
        </div>
      ) : null}

      <h3>
        Universal pruning <InfoTip term="universalMask" />
      </h3>
      <p className="hint">
        Units scored from unlabeled training captions flagged by the noise-gap detector, against neutral prompts: no
        knowledge of which prompts are memorized.
      </p>
      <div className="lab-controls">
        <label>
          Prune{' '}
          <select
            value={science.unitKind}
            disabled={!idle}
            onChange={(e) => actions.setUnitKind(e.currentTarget.value as AblationUnits)}
            data-testid="science-unit-kind"
          >
            <option value="heads">cross-attention heads (ablation score)</option>
            <option value="neurons">value neurons (activation z-score)</option>
          </select>
        </label>
        {button('universal', 'Find universal mask')}
      </div>
      {universal ? (
        <div className="lab-controls" data-testid="science-universal-result">
          <span>
            {universal.flagged.length} of {universal.poolSize} captions flagged
            <Meta job="universal" />
          </span>
          <InfoTip term="sparsity" />
          <label htmlFor={sliderId}>
            Sparsity
            <input
              id={sliderId}
              type="range"
              min={0}
              max={0.5}
              step={0.01}
              value={sparsity}
              onChange={(e) => actions.setSparsity(Number(e.currentTarget.value))}
              data-testid="science-sparsity"
            />
            <output>{Math.round(sparsity * 100)}%</output>
          </label>
          <button
            type="button"
            className="secondary small"
            disabled={!idle}
            onClick={actions.applyUniversalMask}
            data-testid="science-apply-universal"
          >
            Apply universal mask ({prunedCount(universal.scores.length, sparsity)}{' '}
            {universal.units === 'heads' ? 'heads' : 'neurons'})
          </button>
          <ExportResult job="universal" />
        </div>
      ) : null}

      <h3>
        Evaluation <InfoTip term="copy" />
        <InfoTip term="adherence" />
      </h3>
      <div className="lab-controls">{button('evaluate', 'Evaluate')}</div>
      {results.evaluate?.schema === 'memlab-eval-proxy/1' ? (
        <div data-testid="science-evaluation">
          <ProxyTable conditions={results.evaluate.conditions} reason={results.evaluate.replication.reason} />
          <Meta job="evaluate" />
          <ExportResult job="evaluate" />
        </div>
      ) : results.evaluate ? (
        <div data-testid="science-evaluation">
          <ParetoChart
            conditions={results.evaluate.conditions}
            selectedSparsity={sparsity}
            onSelectSparsity={actions.setSparsity}
          />
          <p className="hint">
            Detection AUC {f3(results.evaluate.claims.detectionAuc.value)} (
            {results.evaluate.claims.detectionAuc.holds ? 'meets' : 'misses'} the budget); universal mask{' '}
            {results.evaluate.claims.universal.sparsity === null
              ? 'meets the replication and utility budget at no tested sparsity'
              : `meets the budget from ${Math.round(results.evaluate.claims.universal.sparsity * 100)}%`}
            .<Meta job="evaluate" />
          </p>
          <ExportResult job="evaluate" />
        </div>
      ) : null}
    </section>
  );
}

/** What the detection study will run on and its size in UNet calls, or why it cannot run. */
function StudySize({
  manifest,
  selection,
  stepMs,
}: {
  manifest: Manifest;
  selection: StudySelection;
  stepMs: number | null;
}) {
  if (selection.problem)
    return (
      <p className="hint" data-testid="science-study-size">
        {selection.problem}
      </p>
    );
  const { detection, neutralLimit } = labSizes(manifest);
  // The model's own sets alone: the study takes its memorized captions and the first neutral prompts.
  const own = !selection.promptSets;
  const memorized = own ? manifest.memorized.length : selection.counts.memorized;
  const neutral = own ? Math.min(neutralLimit, manifest.neutralPrompts.length) : selection.counts['non-memorized'];
  const unlabelled = own ? 0 : selection.counts.unlabelled;
  const calls = detectionCalls(memorized + neutral + unlabelled, detection);
  const n = (x: number) => x.toLocaleString('en');
  // Before the job measures its own batch: the last image's step time gives an upper bound.
  const bound =
    stepMs && stepMs > 0
      ? upperBoundFromGeneration(
          {
            prompts: memorized + neutral + unlabelled,
            seeds: detection.seeds.length,
            steps: detection.k,
            guided: true,
            maxRows: detection.maxRows,
          },
          stepMs,
        )
      : null;
  return (
    <p className="hint" data-testid="science-study-size">
      Study: {n(memorized)} memorized and {n(neutral)} non-memorized prompts
      {unlabelled ? `, ${n(unlabelled)} unlabelled (scored, kept out of the ROC)` : ''}; {detection.seeds.length} seeds,
      the first {detection.k} of {detection.steps} steps: {n(calls)} model calls
      {bound ? `, at most about ${formatDuration(bound.seconds)} at the last image's step time` : ''}.
    </p>
  );
}

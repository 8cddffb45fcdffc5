/**
 * Page layout: controls on the left; the image, its trajectory, the baseline/pruned comparison and
 * the seed grid in the middle; pruning, finding memorization (science jobs), attention heatmaps and run
 * details on the right. On narrow
 * screens the columns stack in that order.
 */
import { BackendBadge } from './BackendBadge';
import { ErrorBoundary } from './ErrorBoundary';
import { LoadModel } from './load/LoadModel';
import { ImageView } from './ImageView';
import { Notices } from './Notices';
import { ProgressBar } from './ProgressBar';
import { PromptForm } from './PromptForm';
import { RunDetails } from './RunDetails';
import { StepStrip } from './StepStrip';
import { AttentionPanel } from './lab/AttentionPanel';
import { ComparisonSection } from './lab/ComparisonSection';
import { PruningPanel } from './lab/PruningPanel';
import { SeedGridPanel } from './lab/SeedGridPanel';
import { SciencePanel } from './science/SciencePanel';
import { VariantsPanel } from './lab/VariantsPanel';
import { useLab } from './StoreContext';

function ModelName() {
  const model = useLab((s) => s.model);
  const manifest = useLab((s) => s.manifest);
  if (!model) return null;
  return (
    <p className="model" data-testid="model">
      Model: <strong>{model.label}</strong>
      {manifest ? (
        <span className="hint">
          {' '}
          · v{manifest.version}
          {manifest.trainingSteps !== undefined
            ? ` · ${manifest.trainingSteps.toLocaleString('en-US')} training steps`
            : ''}
        </span>
      ) : null}
    </p>
  );
}

export function App() {
  return (
    <div className="app">
      <header className="top">
        <div className="title">
          <h1>Memorization Lab</h1>
          <ModelName />
        </div>
        <LoadModel />
        <BackendBadge />
      </header>
      <Notices />
      <main className="layout">
        <ErrorBoundary>
          <PromptForm />
        </ErrorBoundary>
        <section className="panel stage" aria-label="Image">
          <ErrorBoundary>
            <ProgressBar />
            <ImageView />
            <StepStrip />
          </ErrorBoundary>
          <ErrorBoundary>
            <ComparisonSection />
            <SeedGridPanel />
          </ErrorBoundary>
        </section>
        <aside className="analysis" aria-label="Analysis" data-region="analysis">
          <ErrorBoundary>
            <PruningPanel />
          </ErrorBoundary>
          <ErrorBoundary>
            <SciencePanel />
          </ErrorBoundary>
          <ErrorBoundary>
            <VariantsPanel />
          </ErrorBoundary>
          <ErrorBoundary>
            <AttentionPanel />
          </ErrorBoundary>
          <ErrorBoundary>
            <RunDetails />
          </ErrorBoundary>
        </aside>
      </main>
    </div>
  );
}

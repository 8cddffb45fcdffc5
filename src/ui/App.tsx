/**
 * Page layout: a header (what the lab is, the model, the glossary, the backend and its switch);
 * then controls on the left; the key pair (the image beside its nearest training image), its
 * trajectory, the baseline/pruned comparison and the seed grid in the middle; pruning, finding
 * memorization (science jobs), attention heatmaps and run details on the right. On narrow screens
 * the columns stack with the image first, and a small copy of it stays at the top of the screen
 * once it scrolls away (StickyResult), next to whichever control is being used.
 */
import { useRef } from 'react';
import { BackendBadge } from './BackendBadge';
import { ErrorBoundary } from './ErrorBoundary';
import { Glossary } from './glossary/Glossary';
import { Jargon } from './glossary/InfoTip';
import { LoadModel } from './load/LoadModel';
import { ImageView } from './ImageView';
import { Notices } from './Notices';
import { ProgressBar } from './ProgressBar';
import { PromptForm } from './PromptForm';
import { RunDetails } from './RunDetails';
import { StepStrip } from './StepStrip';
import { StickyResult } from './StickyResult';
import { AttentionPanel } from './lab/AttentionPanel';
import { ComparisonSection } from './lab/ComparisonSection';
import { ModelSelect } from './lab/ModelSelect';
import { PruningPanel } from './lab/PruningPanel';
import { SeedGridPanel } from './lab/SeedGridPanel';
import { SciencePanel } from './science/SciencePanel';
import { VariantsPanel } from './lab/VariantsPanel';
import { useLab } from './StoreContext';

function ModelFacts() {
  const manifest = useLab((s) => s.manifest);
  if (!manifest) return null;
  return (
    <span className="hint model-facts" data-testid="model">
      v{manifest.version}
      {manifest.trainingSteps !== undefined
        ? ` · ${manifest.trainingSteps.toLocaleString('en-US')} training steps`
        : ''}
    </span>
  );
}

export function App() {
  const keyPair = useRef<HTMLDivElement>(null);
  return (
    <div className="app">
      <header className="top">
        <h1 className="title">Memorization Lab</h1>
        <p className="tagline">
          Does an image model copy its training pictures? Each result appears beside the training picture most like it;
          switch parts of the model off and watch a copy go. The bundled model is a small{' '}
          <Jargon term="organism">model organism</Jargon>, trained to memorize a known set of pictures.
        </p>
        <div className="top-tools">
          <ModelSelect />
          <ModelFacts />
          <LoadModel />
          <Glossary />
        </div>
        <BackendBadge />
      </header>
      <Notices />
      <StickyResult watch={keyPair} />
      <main className="layout">
        <ErrorBoundary>
          <PromptForm />
        </ErrorBoundary>
        <section className="panel stage" aria-label="Image">
          <ErrorBoundary>
            <ProgressBar />
            <ImageView ref={keyPair} />
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

/** One bar for both slow phases: model download (bytes) and denoising (steps). */
import type { Progress, Status } from '../state/store';
import { useLab } from './StoreContext';

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(bytes < 1e7 ? 2 : 1)} MB`;

export function describeProgress(p: Progress): string {
  switch (p.phase) {
    case 'manifest':
      return 'Reading the model manifest…';
    case 'download':
      return p.fromCache
        ? `Loading ${p.label} from the browser cache`
        : `Downloading ${p.label} — ${mb(p.loaded)} of ${mb(p.total)}`;
    case 'session':
      return `${p.label}…`;
    case 'denoise':
      return `Denoising — step ${p.loaded} of ${p.total}`;
  }
}

function idleText(status: Status): string {
  switch (status) {
    case 'starting':
      return 'Starting…';
    case 'loading':
      return 'Loading the model…';
    case 'failed':
      return 'Not ready — see the message above.';
    default:
      return 'Ready.';
  }
}

/** Full when ready, empty when failed, indeterminate (undefined) while something is under way. */
function idleValue(status: Status): number | undefined {
  if (status === 'ready') return 1;
  if (status === 'failed') return 0;
  return undefined;
}

export function ProgressBar() {
  const progress = useLab((s) => s.progress);
  const status = useLab((s) => s.status);
  // Indeterminate (no value) while the total is unknown, e.g. during session start-up.
  const determinate = progress !== null && progress.total > 1;
  return (
    <div className="progress" data-testid="progress" data-status={status}>
      <progress
        aria-label="Progress"
        max={determinate ? progress.total : undefined}
        value={determinate ? progress.loaded : idleValue(status)}
      />
      <span className="progress-text" aria-live="polite">
        {progress ? describeProgress(progress) : idleText(status)}
      </span>
    </div>
  );
}

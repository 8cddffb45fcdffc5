/** "Export CSV" / "Export JSON" for a finished science job's result, named after the model and the job. */
import { EXPORT_NAMES, JOBS, type ScienceJob, resultExports } from '../../core/jobs';
import { useLab } from '../StoreContext';
import { downloadBlob } from '../views';

export function ExportResult({ job }: { job: ScienceJob }) {
  const manifest = useLab((s) => s.manifest);
  const result = useLab((s) => s.science.results[job]);
  if (!manifest || result === undefined) return null;
  const stem = `${manifest.id}-${EXPORT_NAMES[job] ?? job}`;
  const save = (kind: 'csv' | 'json') => {
    // Built on click: a large study's CSV is not worth building on every render.
    const files = resultExports(manifest, job, result);
    if (kind === 'csv' && files.csv !== null) downloadBlob(new Blob([files.csv], { type: 'text/csv' }), `${stem}.csv`);
    else downloadBlob(new Blob([files.json], { type: 'application/json' }), `${stem}.json`);
  };
  // A job whose result is images or a file has no table: JSON only.
  const kinds = JOBS[job].table ? (['csv', 'json'] as const) : (['json'] as const);
  return (
    <span className="lab-controls export-result">
      {kinds.map((kind) => (
        <button
          key={kind}
          type="button"
          className="secondary small"
          onClick={() => save(kind)}
          data-testid={`science-${job}-${kind}`}
        >
          Export {kind.toUpperCase()}
        </button>
      ))}
    </span>
  );
}

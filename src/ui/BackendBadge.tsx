/**
 * Which backend runs the model and why, in plain words (a fallback must never be a mystery), and
 * the switch beside it: Auto / WebGPU / WebAssembly. Switching loads the model again on that
 * backend and keeps the experiment; the choice goes into the link (?backend=).
 */
import { useId } from 'react';
import type { BackendPreference } from '../gpu/backend';
import { BACKEND_LOCKED } from '../state/slices/session';
import { useLab, useLabActions } from './StoreContext';

const CHOICES: { value: BackendPreference; label: string }[] = [
  { value: 'auto', label: 'Auto (the faster here)' },
  { value: 'webgpu', label: 'WebGPU (graphics card)' },
  { value: 'wasm', label: 'WebAssembly (processor)' },
];

function BackendSwitch() {
  const preference = useLab((s) => s.backendPreference);
  const science = useLab((s) => s.science.running !== null);
  const { setBackendPreference } = useLabActions();
  const id = useId();
  return (
    <label className="backend-switch" htmlFor={id}>
      Run on
      <select
        id={id}
        value={preference}
        disabled={science}
        title={science ? BACKEND_LOCKED : undefined}
        onChange={(e) => setBackendPreference(e.currentTarget.value as BackendPreference)}
        data-testid="backend-select"
      >
        {CHOICES.map((c) => (
          <option key={c.value} value={c.value}>
            {c.label}
          </option>
        ))}
      </select>
    </label>
  );
}

export function BackendBadge() {
  const backend = useLab((s) => s.backend);
  const files = useLab((s) => s.files);
  const failed = useLab((s) => s.status === 'failed');
  if (!backend) {
    return (
      <div className="backend pending">
        <BackendSwitch />
        <span className="reason">{failed ? 'Backend: not started' : 'Backend: choosing…'}</span>
      </div>
    );
  }
  const cached = files.length > 0 && files.every((f) => f.fromCache);
  return (
    <div className="backend" data-testid="backend" data-backend={backend.backend}>
      <BackendSwitch />
      <span className={`badge ${backend.backend}`}>{backend.backend === 'webgpu' ? 'WebGPU' : 'WASM'}</span>
      <span className="reason" data-testid="backend-reason">
        {backend.reason}
        {cached ? ' Model files came from the browser cache.' : ''}
      </span>
    </div>
  );
}

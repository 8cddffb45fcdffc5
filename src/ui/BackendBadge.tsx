/** Which backend runs the model and why, in plain words (a fallback must never be a mystery). */
import { useLab } from './StoreContext';

export function BackendBadge() {
  const backend = useLab((s) => s.backend);
  const files = useLab((s) => s.files);
  const failed = useLab((s) => s.status === 'failed');
  if (!backend) return <div className="backend pending">{failed ? 'Backend: not started' : 'Backend: choosing…'}</div>;
  const cached = files.length > 0 && files.every((f) => f.fromCache);
  return (
    <div className="backend" data-testid="backend" data-backend={backend.backend}>
      <span className={`badge ${backend.backend}`}>{backend.backend === 'webgpu' ? 'WebGPU' : 'WASM'}</span>
      <span className="reason" data-testid="backend-reason">
        {backend.reason}
        {cached ? ' Model files came from the browser cache.' : ''}
      </span>
    </div>
  );
}

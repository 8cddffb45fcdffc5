/** Which model the lab runs: every model public/models/index.json lists. */
import { useId } from 'react';
import { useLab, useLabActions } from '../StoreContext';

export function ModelSelect() {
  const models = useLab((s) => s.models);
  const model = useLab((s) => s.model);
  const status = useLab((s) => s.status);
  const actions = useLabActions();
  const id = useId();
  if (models.length === 0 || !model) return null;
  return (
    <div className="field model-select">
      <label htmlFor={id}>Model</label>
      <select
        id={id}
        value={model.id}
        disabled={status === 'loading' || status === 'starting'}
        onChange={(e) => actions.selectModel(e.currentTarget.value)}
        data-testid="model-select"
      >
        {models.map((m) => (
          <option key={m.id} value={m.id}>
            {m.label}
          </option>
        ))}
      </select>
    </div>
  );
}

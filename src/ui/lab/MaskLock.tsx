/**
 * The pruning controls' lock (state/slices/experiment.ts maskLock): while the image cannot be made
 * again (a science job holds the model, the model is loading) the mask controls are locked and say
 * why, so the grid, the link and the image never disagree.
 */
import { maskLock } from '../../state/slices/experiment';
import { useLab } from '../StoreContext';

/** Why the mask controls are locked now, or null. */
export function useMaskLock(): string | null {
  return useLab(maskLock);
}

export function MaskLockNote({ reason }: { reason: string | null }) {
  if (!reason) return null;
  return (
    <p className="lock-note" role="status" data-testid="mask-lock">
      {reason}
    </p>
  );
}

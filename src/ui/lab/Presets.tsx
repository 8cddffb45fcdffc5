/**
 * One-click starting points for a class: a memorized caption, a neutral prompt, and the universal
 * mask at its default sparsity on the memorized caption: the one the model ships (at once), or the
 * one "Find universal mask" computed under Find memorization.
 */
import { useLab, useLabActions } from '../StoreContext';
import { InfoTip } from '../glossary/InfoTip';
import { useMaskLock } from './MaskLock';

export function Presets() {
  const manifest = useLab((s) => s.manifest);
  const preset = useLab((s) => s.pruningPreset);
  const lock = useMaskLock();
  const science = useLab((s) => s.science.running !== null);
  const actions = useLabActions();
  const ready = lock === null;
  const memorized = manifest?.memorized[0]?.caption;
  const neutral = manifest?.neutralPrompts[0];
  return (
    <div className="presets" role="group" aria-labelledby="presets-title">
      <span id="presets-title" className="presets-title">
        Start from
      </span>
      <button
        type="button"
        className="secondary small"
        disabled={!ready || !memorized}
        onClick={() => actions.applyPreset('memorized')}
        title={memorized}
        data-testid="preset-memorized"
      >
        Memorized prompt
      </button>
      <InfoTip term="memorizedPrompt" />
      <button
        type="button"
        className="secondary small"
        disabled={!ready || !neutral}
        onClick={() => actions.applyPreset('neutral')}
        title={neutral}
        data-testid="preset-neutral"
      >
        Neutral prompt
      </button>
      <InfoTip term="neutralPrompt" />
      <button
        type="button"
        className="secondary small"
        disabled={!ready || !preset}
        onClick={() => actions.applyPreset('pruning')}
        title={
          preset
            ? `${preset.label}: ${preset.prompt}${preset.shipped ? ' (the universal mask the model ships, made without the memorized labels; “Find universal mask” computes it here)' : ''}`
            : 'Run “Find universal mask” under Find memorization first'
        }
        data-testid="preset-pruning"
        data-shipped={preset?.shipped ? 'true' : undefined}
      >
        {preset ? preset.label : 'Universal mask (run “Find universal mask” first)'}
      </button>
      {science ? (
        <span className="hint lock-hint" data-testid="presets-lock">
          Locked while a science job runs.
        </span>
      ) : null}
    </div>
  );
}

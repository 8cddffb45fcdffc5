import { organism } from '../core/manifest';
/** The experiment controls: prompt, seed, steps, guidance, Generate / Cancel. */
import { useId, useMemo, type FormEvent } from 'react';
import { tokenize, wordIndex } from '../core/tokenizer';
import { LIMITS } from '../state/store';
import { Presets } from './lab/Presets';
import { NumberSlider } from './NumberSlider';
import { useLab, useLabActions } from './StoreContext';

export function PromptForm() {
  const manifest = useLab((s) => s.manifest);
  const prompt = useLab((s) => s.prompt);
  const seed = useLab((s) => s.seed);
  const steps = useLab((s) => s.steps);
  const guidance = useLab((s) => s.guidance);
  const status = useLab((s) => s.status);
  const actions = useLabActions();
  const ids = { prompt: useId(), examples: useId(), words: useId(), seed: useId() };

  // Tokenized live, so unknown words are flagged before the user spends a generation on them.
  // Only a closed vocabulary has unknown words; CLIP's byte-level BPE spells any word.
  const closed = useMemo(() => (manifest?.text.vocab ? organism(manifest) : null), [manifest]);
  const index = useMemo(() => (closed ? wordIndex(closed.text) : null), [closed]);
  const tokens = closed && index ? tokenize(prompt, closed.text, index) : null;
  const examples = useMemo(
    () => (manifest ? [...new Set([...manifest.memorized.map((m) => m.caption), ...manifest.trainPromptsSample])] : []),
    [manifest],
  );

  const ready = status === 'ready' || status === 'generating';
  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    actions.generate();
  };

  return (
    <form className="panel controls" onSubmit={onSubmit} aria-label="Generation settings">
      <Presets />
      <div className="field">
        <label htmlFor={ids.prompt}>Prompt</label>
        <input
          id={ids.prompt}
          type="text"
          list={ids.examples}
          value={prompt}
          maxLength={LIMITS.promptLength}
          onChange={(e) => actions.setPrompt(e.target.value)}
          placeholder="e.g. a painting of zephyr"
          aria-describedby={ids.words}
          autoComplete="off"
          spellCheck={false}
          data-testid="prompt"
        />
        <datalist id={ids.examples}>
          {examples.map((p) => (
            <option key={p} value={p} />
          ))}
        </datalist>
        <p id={ids.words} className="hint" data-testid="unknown-words" aria-live="polite">
          {tokens && tokens.unknownWords.length > 0 ? (
            <span className="warn">
              Not in the model’s vocabulary (read as &lt;unk&gt;): <strong>{tokens.unknownWords.join(', ')}</strong>
            </span>
          ) : tokens && prompt.trim() === '' ? (
            'An empty prompt generates unconditionally.'
          ) : (
            'Pick an example from the list or write your own.'
          )}
          {tokens?.truncated ? (
            <span className="warn"> The prompt is longer than the model reads; the end is cut.</span>
          ) : null}
        </p>
      </div>

      <div className="row">
        <div className="field seed">
          <label htmlFor={ids.seed}>Seed</label>
          <div className="inline">
            <input
              id={ids.seed}
              type="number"
              min={LIMITS.seed.min}
              max={LIMITS.seed.max}
              step={1}
              value={seed}
              onChange={(e) => e.target.value !== '' && actions.setSeed(Number(e.target.value))}
              data-testid="seed"
            />
            <button type="button" className="secondary" onClick={actions.randomSeed} aria-label="Random seed">
              Random
            </button>
          </div>
        </div>
      </div>

      <NumberSlider
        label="Steps"
        value={steps}
        min={LIMITS.steps.min}
        max={LIMITS.steps.max}
        step={1}
        onChange={actions.setSteps}
        testId="steps"
      />
      <NumberSlider
        label="Guidance"
        value={guidance}
        min={LIMITS.guidance.min}
        max={10}
        step={0.5}
        onChange={actions.setGuidance}
        testId="guidance"
      />

      <div className="buttons">
        <button type="submit" disabled={!ready} data-testid="generate">
          {status === 'generating' ? 'Restart' : 'Generate'}
        </button>
        {status === 'generating' ? (
          <button type="button" className="secondary" onClick={actions.cancel} data-testid="cancel">
            Cancel
          </button>
        ) : null}
      </div>
    </form>
  );
}

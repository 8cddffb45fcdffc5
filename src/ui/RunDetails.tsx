/** What the last run read and measured: its tokens (unknown ones marked) and the noise gap. */
import { useLab } from './StoreContext';
import { Jargon } from './glossary/InfoTip';
import { NoiseGapChart } from './NoiseGapChart';

export function RunDetails() {
  const result = useLab((s) => s.result);
  if (!result) {
    return (
      <section className="panel details" aria-label="Run details">
        <h2>Run details</h2>
        <p className="hint">After a generation, the words the model read and its noise gap per step appear here.</p>
      </section>
    );
  }
  const unknown = new Set(result.unknownWords);
  const early = result.noiseGaps.slice(0, Math.min(5, result.noiseGaps.length));
  const earlyMean = early.reduce((a, b) => a + b, 0) / Math.max(1, early.length);
  return (
    <section className="panel details" aria-label="Run details">
      <h2>Run details</h2>
      <h3>Words the model read</h3>
      <p className="tokens" data-testid="tokens">
        {result.tokenWords.length === 0 ? <em>none (unconditional)</em> : null}
        {result.tokenWords.map((w, i) => (
          <span
            key={`${w}-${i}`}
            className={unknown.has(w) ? 'token unknown' : 'token'}
            title={unknown.has(w) ? 'not in the vocabulary: read as <unk>' : undefined}
          >
            {w}
          </span>
        ))}
      </p>
      {result.unknownWords.length > 0 ? (
        <p className="warn" data-testid="result-unknown-words">
          Read as &lt;unk&gt;: {result.unknownWords.join(', ')}
        </p>
      ) : null}
      {result.truncated ? <p className="warn">The prompt was cut to the model’s token limit.</p> : null}
      {result.contextOnGpu ? (
        <p className="hint" data-testid="context-on-gpu">
          The prompt’s text encoding stayed on the GPU: uploaded {times(result.contextOnGpu.uploads)}, reused by{' '}
          {result.contextOnGpu.reuses} of the {result.contextOnGpu.uploads + result.contextOnGpu.reuses} model calls.
        </p>
      ) : null}
      <h3>
        <Jargon term="noiseGap">Noise gap</Jargon> per step
      </h3>
      <p className="hint">
        ‖ε(text) − ε(empty)‖, mean of the first {early.length} steps:{' '}
        <strong data-testid="noise-gap">{earlyMean.toFixed(3)}</strong>. Large values are Wen et al.’s memorization
        signal.
      </p>
      <NoiseGapChart gaps={result.noiseGaps} />
    </section>
  );
}

const times = (n: number) => (n === 1 ? 'once' : `${n} times`);

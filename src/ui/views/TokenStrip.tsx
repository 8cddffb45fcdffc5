import { format } from 'd3';
import type { StripToken } from './tokens';

export interface TokenStripProps {
  tokens: readonly StripToken[];
  /** the selected token's position, or null */
  selected: number | null;
  /** called on hover, focus and click: linked views follow the token */
  onSelect: (position: number) => void;
  /** accessible name of the strip */
  label?: string;
  /** optional weight per position in [0, 1] (e.g. attention mass), drawn as a bar under each token */
  weights?: ArrayLike<number>;
  weightLabel?: string;
}

const pct = format('.0%');

/** The prompt's tokens as buttons. Unknown words are marked (dashed, with a "?") and say why. */
export function TokenStrip({
  tokens,
  selected,
  onSelect,
  label = 'Prompt tokens',
  weights,
  weightLabel = 'attention',
}: TokenStripProps) {
  return (
    <div className="mv-view mv-tokens" role="group" aria-label={label}>
      {tokens.map((t) => {
        const w = weights ? weights[t.position] : undefined;
        const parts = [
          `token ${t.position}: ${t.text}`,
          t.unknown ? 'not in the vocabulary, encoded as <unk>' : '',
          w !== undefined ? `${weightLabel} ${pct(w)}` : '',
        ].filter(Boolean);
        return (
          <button
            key={t.position}
            type="button"
            className={`mv-token${t.special ? ' mv-token-special' : ''}${t.unknown ? ' mv-token-unknown' : ''}`}
            aria-pressed={selected === t.position}
            aria-label={parts.join(', ')}
            title={t.unknown ? `"${t.text}" is not in the vocabulary; the model sees <unk>` : undefined}
            onPointerEnter={() => onSelect(t.position)}
            onFocus={() => onSelect(t.position)}
            onClick={() => onSelect(t.position)}
          >
            <span className="mv-token-text">{t.text}</span>
            {t.unknown && (
              <span className="mv-token-flag" aria-hidden="true">
                ?
              </span>
            )}
            {w !== undefined && (
              <span className="mv-token-bar" aria-hidden="true">
                <span style={{ width: `${Math.max(0, Math.min(1, w)) * 100}%` }} />
              </span>
            )}
          </button>
        );
      })}
    </div>
  );
}

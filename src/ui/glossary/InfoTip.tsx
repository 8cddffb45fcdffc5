/**
 * An info button beside a word of jargon: a keyboard-reachable button (Tab, then Enter or Space)
 * that opens a one-line explanation in a native popover (Escape or a click elsewhere closes it).
 * The browser's popover does the focus, dismissal and accessibility wiring (the button is
 * announced as expanding the explanation), so no popover library is needed; CSS anchor
 * positioning puts it under the button, and browsers without it centre it instead.
 */
import { type CSSProperties, type ReactNode, useId } from 'react';
import { TERMS, type TermId } from './terms';

export function InfoTip({ term }: { term: TermId }) {
  const id = useId();
  const anchor = `--info-${id.replace(/[^a-zA-Z0-9_-]/g, '')}`;
  const t = TERMS[term];
  return (
    <>
      <button
        type="button"
        className="info-tip"
        popoverTarget={id}
        aria-label={`What is “${t.term}”?`}
        style={{ anchorName: anchor } as CSSProperties}
        data-testid={`info-${term}`}
      >
        ?
      </button>
      <span id={id} popover="auto" className="info-pop" style={{ positionAnchor: anchor } as CSSProperties}>
        <strong>{t.term}.</strong> {t.plain}
      </span>
    </>
  );
}

/** A word with its info button, for headings and labels. */
export function Jargon({ term, children }: { term: TermId; children: ReactNode }) {
  return (
    <span className="jargon">
      {children}
      <InfoTip term={term} />
    </span>
  );
}

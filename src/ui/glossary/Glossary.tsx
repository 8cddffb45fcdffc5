/**
 * The glossary: every term of the lab with its plain line, in a modal dialog opened from the
 * header. The native <dialog> traps focus, closes on Escape and returns focus to the button.
 */
import { useRef } from 'react';
import { glossaryTerms } from './terms';

export function Glossary() {
  const dialog = useRef<HTMLDialogElement>(null);
  return (
    <>
      <button
        type="button"
        className="secondary small"
        onClick={() => dialog.current?.showModal()}
        aria-haspopup="dialog"
        data-testid="glossary-open"
      >
        Glossary
      </button>
      <dialog ref={dialog} className="glossary" aria-labelledby="glossary-title" data-testid="glossary">
        <div className="glossary-head">
          <h2 id="glossary-title">Glossary</h2>
          <button type="button" className="secondary small" onClick={() => dialog.current?.close()}>
            Close
          </button>
        </div>
        <p className="hint">
          The words this lab uses, each in one line. The <span className="info-tip static">?</span> buttons beside them
          on the page say the same.
        </p>
        <dl>
          {glossaryTerms().map(([id, t]) => (
            <div key={id} className="glossary-entry" id={`glossary-${id}`}>
              <dt>{t.term}</dt>
              <dd>{t.plain}</dd>
            </div>
          ))}
        </dl>
      </dialog>
    </>
  );
}

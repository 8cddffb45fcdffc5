/**
 * Errors and notices: a sentence for the person at the screen, the technical detail behind a
 * "Technical details" disclosure (for a bug report), the one action that can help, and Dismiss.
 */
import type { NoticeAction } from '../state/store';
import { useLab, useLabActions } from './StoreContext';

const actionLabel: Record<NoticeAction, string> = {
  'retry-load': 'Try again',
  'retry-generate': 'Try again',
  'reload-page': 'Reload page',
  'load-link-model': 'Load that model',
};

export function Notices() {
  const notices = useLab((s) => s.notices);
  const { runAction, dismiss } = useLabActions();
  if (notices.length === 0) return null;
  return (
    <ul className="notices" aria-label="Messages">
      {notices.map((n) => (
        <li
          key={n.id}
          className={`notice ${n.level}`}
          role={n.level === 'error' ? 'alert' : 'status'}
          data-testid="notice"
        >
          <div className="message">
            <span data-testid="notice-message">{n.message}</span>
            {n.detail ? (
              <details className="notice-detail">
                <summary>Technical details</summary>
                <pre data-testid="notice-detail">{n.detail}</pre>
              </details>
            ) : null}
          </div>
          <span className="notice-buttons">
            {n.action ? (
              <button type="button" onClick={() => runAction(n)} data-testid={`notice-${n.action}`}>
                {actionLabel[n.action]}
              </button>
            ) : null}
            <button type="button" className="secondary" onClick={() => dismiss(n.id)} aria-label="Dismiss message">
              Dismiss
            </button>
          </span>
        </li>
      ))}
    </ul>
  );
}

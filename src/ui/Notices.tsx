/** Errors and notices, each with the one action that helps (retry, reload) and a dismiss. */
import type { NoticeAction } from '../state/store';
import { useLab, useLabActions } from './StoreContext';

const actionLabel: Record<NoticeAction, string> = {
  'retry-load': 'Retry download',
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
          <span className="message">{n.message}</span>
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

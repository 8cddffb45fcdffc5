import { useRef, useState, type KeyboardEvent, type MouseEvent } from 'react';
import { toggleCells } from './selection';

export interface CellToggleOptions {
  count: number;
  pruned: readonly boolean[];
  onPrunedChange: (next: boolean[]) => void;
  /** index reached by a key from `index`, or null when the key is not a move */
  move: (index: number, key: string) => number | null;
  onHover?: (index: number | null) => void;
  /** the cells show their state but do not toggle (arrows and hover still work) */
  locked?: boolean;
}

/**
 * Click / shift-click / keyboard behaviour of a grid of toggle buttons, with a roving tabindex
 * (one Tab stop for the whole grid, arrows inside it) so 128 neuron cells do not mean 128 Tab presses.
 * The anchor for shift ranges is the last cell clicked; it is view-local, not app state.
 */
export function useCellToggles({ count, pruned, onPrunedChange, move, onHover, locked = false }: CellToggleOptions) {
  const anchor = useRef<number | null>(null);
  const cells = useRef<(HTMLButtonElement | null)[]>([]);
  const [active, setActive] = useState(0);
  const focusable = Math.min(active, Math.max(0, count - 1));

  function activate(i: number, range: boolean) {
    if (locked) return;
    onPrunedChange(toggleCells(pruned, i, anchor.current, range));
    anchor.current = i;
  }

  function cellProps(i: number) {
    return {
      ref: (el: HTMLButtonElement | null) => {
        cells.current[i] = el;
      },
      type: 'button' as const,
      tabIndex: i === focusable ? 0 : -1,
      'aria-pressed': Boolean(pruned[i]),
      'aria-disabled': locked || undefined,
      onClick: (e: MouseEvent<HTMLButtonElement>) => {
        activate(i, e.shiftKey);
        // Some browsers do not focus buttons on click; keep keyboard moves starting from here.
        e.currentTarget.focus();
      },
      onKeyDown: (e: KeyboardEvent<HTMLButtonElement>) => {
        const next = move(i, e.key);
        if (next !== null) {
          e.preventDefault();
          setActive(next);
          cells.current[next]?.focus();
        } else if (e.shiftKey && (e.key === ' ' || e.key === 'Enter')) {
          // Keyboard "clicks" carry no shiftKey, so handle the range toggle here.
          e.preventDefault();
          activate(i, true);
        }
      },
      onFocus: () => {
        setActive(i);
        onHover?.(i);
      },
      onPointerEnter: () => onHover?.(i),
    };
  }

  return { cellProps, onLeave: () => onHover?.(null) };
}

/** Toggle logic shared by HeadGrid and NeuronStrip. Pure so it is unit-tested. */

/**
 * The pruned flags after a click on `clicked`. A plain click flips that cell. A range click
 * (shift) sets every cell from `anchor` to `clicked` inclusive, in reading order, to the clicked
 * cell's new state, so a range prunes or restores as a whole instead of flipping a mixed set.
 */
export function toggleCells(
  pruned: readonly boolean[],
  clicked: number,
  anchor: number | null,
  range: boolean,
): boolean[] {
  const next = pruned.slice();
  if (clicked < 0 || clicked >= pruned.length) return next;
  const value = !pruned[clicked];
  if (!range || anchor === null || anchor < 0 || anchor >= pruned.length) {
    next[clicked] = value;
    return next;
  }
  const lo = Math.min(anchor, clicked);
  const hi = Math.max(anchor, clicked);
  for (let i = lo; i <= hi; i++) next[i] = value;
  return next;
}

/** Index reached by an arrow/Home/End key in a grid of `count` cells laid out `columns` wide; null if not a move key. */
export function moveFocus(index: number, key: string, columns: number, count: number): number | null {
  let next: number;
  switch (key) {
    case 'ArrowRight':
      next = index + 1;
      break;
    case 'ArrowLeft':
      next = index - 1;
      break;
    case 'ArrowDown':
      next = index + columns;
      break;
    case 'ArrowUp':
      next = index - columns;
      break;
    case 'Home':
      next = 0;
      break;
    case 'End':
      next = count - 1;
      break;
    default:
      return null;
  }
  return Math.min(count - 1, Math.max(0, next));
}

/** Prompts in words for a progress line: the first quoted, then how many others. */
export function promptsInWords(prompts: readonly string[]): string {
  const distinct = [...new Set(prompts)];
  if (distinct.length === 0) return '';
  const rest = distinct.length - 1;
  return `“${distinct[0]}”${rest > 0 ? ` and ${rest} more prompt${rest === 1 ? '' : 's'}` : ''}`;
}

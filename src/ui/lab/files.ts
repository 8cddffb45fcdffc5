/** File names for exports: the prompt's first words and the seed, safe on every file system. */
export function fileStem(prompt: string, seed: number): string {
  const words =
    prompt
      .toLowerCase()
      .match(/[a-z0-9]+/g)
      ?.slice(0, 6)
      .join('-') || 'unconditional';
  return `memlab-${words}-seed${seed}`;
}

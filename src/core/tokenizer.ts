/**
 * Prompt -> token ids for the model's closed vocabulary, like training/memlab/data.py tokenize:
 * lower-case words, <bos> words <eos>, padded with <pad> to maxTokens. Two deliberate differences,
 * both visible in the result rather than silent: words are split on punctuation as well as
 * whitespace ("zephyr." is "zephyr"; training only splits off commas), and unknown and truncated
 * words are reported.
 */
import type { OrganismManifest } from './manifest';

export interface Tokenized {
  /** length maxTokens */
  ids: number[];
  /** the prompt's words after lower-casing and splitting, before truncation */
  words: string[];
  /** distinct words not in the vocabulary, in order of appearance; each became <unk> */
  unknownWords: string[];
  /** true when words past maxTokens - 2 were cut off */
  truncated: boolean;
  /**
   * what each position shows, for a tokenizer whose pieces are not whole words (CLIP's BPE); the
   * organism's closed vocabulary leaves it out and the page reads its vocabulary instead
   */
  labels?: string[];
}

type TextSpec = OrganismManifest['text'];

/** Lower-cased words: runs of letters and digits (anything else separates). */
export function promptWords(prompt: string): string[] {
  return prompt.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

/** Vocabulary index for a text spec; special tokens are excluded so a prompt cannot spell them. */
export function wordIndex(text: TextSpec): Map<string, number> {
  const special = new Set([text.padId, text.bosId, text.eosId, text.unkId]);
  const index = new Map<string, number>();
  text.vocab.forEach((word, id) => {
    if (!special.has(id)) index.set(word, id);
  });
  return index;
}

export function tokenize(prompt: string, text: TextSpec, index: Map<string, number> = wordIndex(text)): Tokenized {
  const words = promptWords(prompt);
  const room = text.maxTokens - 2;
  const kept = words.slice(0, room);
  const unknownWords = [...new Set(words.filter((w) => !index.has(w)))];
  const ids = [text.bosId, ...kept.map((w) => index.get(w) ?? text.unkId), text.eosId];
  while (ids.length < text.maxTokens) ids.push(text.padId);
  return { ids, words, unknownWords, truncated: words.length > room };
}

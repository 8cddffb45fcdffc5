/** Turn encoded prompt ids into what TokenStrip shows. DOM-free. */

export interface StripToken {
  /** position in the encoded sequence (the token index of the attention maps) */
  position: number;
  /** what to show: the vocabulary entry, or the user's word where it was unknown */
  text: string;
  /** the word is not in the vocabulary and was encoded as <unk> */
  unknown: boolean;
  /** <bos>, <eos>, <pad> */
  special: boolean;
}

export interface StripOptions {
  padId: number;
  unkId: number;
  bosId: number;
  eosId: number;
  /** the prompt's words in order (word i is at position i + 1, after <bos>); shows unknown words as typed */
  words?: readonly string[];
  /** include <pad> positions (they do receive attention; hidden by default to keep the strip short) */
  keepPadding?: boolean;
}

export function stripTokens(ids: readonly number[], vocab: readonly string[], o: StripOptions): StripToken[] {
  const out: StripToken[] = [];
  ids.forEach((id, position) => {
    if (id === o.padId && !o.keepPadding) return;
    const special = id === o.padId || id === o.bosId || id === o.eosId;
    const unknown = id === o.unkId;
    const typed = o.words?.[position - 1];
    out.push({ position, text: unknown && typed ? typed : (vocab[id] ?? `#${id}`), unknown, special });
  });
  return out;
}

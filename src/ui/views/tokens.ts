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
  /** absent for a tokenizer without an unknown token (byte-level BPE never needs one) */
  unkId?: number;
  bosId: number;
  eosId: number;
  /** the prompt's words in order (word i is at position i + 1, after <bos>); shows unknown words as typed */
  words?: readonly string[];
  /** include <pad> positions (they do receive attention; hidden by default to keep the strip short) */
  keepPadding?: boolean;
}

/** What position `position` (holding `id`) shows: a vocabulary entry or a tokenizer's own piece. */
export type TokenLabel = (id: number, position: number) => string | undefined;

/** Labels from a closed vocabulary (the organism), or per position (a BPE tokenizer's pieces). */
export function tokenLabeller(vocab: readonly string[] | undefined, labels?: readonly string[]): TokenLabel {
  if (labels) return (_id, position) => labels[position];
  return (id) => vocab?.[id];
}

export function stripTokens(ids: readonly number[], label: TokenLabel, o: StripOptions): StripToken[] {
  const out: StripToken[] = [];
  ids.forEach((id, position) => {
    if (id === o.padId && !o.keepPadding) return;
    const special = id === o.padId || id === o.bosId || id === o.eosId;
    const unknown = id === o.unkId;
    const typed = o.words?.[position - 1];
    out.push({ position, text: unknown && typed ? typed : (label(id, position) ?? `#${id}`), unknown, special });
  });
  return out;
}

/**
 * CLIP's byte-level BPE tokenizer, as Stable-Diffusion-family models ship it (tokenizer/vocab.json +
 * merges.txt, sometimes a tokenizer.json), run by @huggingface/tokenizers. Padding and truncation
 * follow the pipeline's call `tokenizer(prompt, padding="max_length", max_length=77, truncation=True)`:
 * begin token, at most max_length - 2 prompt tokens, end token, then the pad token. The pad token is
 * read from the folder's tokenizer_config.json / special_tokens_map.json: SD 1.x pads with the end
 * token, SD 2.x with "!" (id 0).
 *
 * Two text normalizations exist in the wild and give different ids for some prompts:
 * - 'fast' (default): the Rust "fast" CLIPTokenizer and the Python slow one with ftfy installed:
 *   Unicode NFC, whitespace runs collapsed, lower case; then CLIP's pattern splits words, keeping
 *   accents ("café") and runs of punctuation ("!!") and contractions ("'s") together.
 * - 'basic': transformers' slow CLIPTokenizer without ftfy, up to the 4.3x releases (diffusers'
 *   default set-up then): BERT's BasicTokenizer first drops control characters, puts spaces around
 *   CJK ideographs, lower-cases, strips accents (NFD, marks removed) and splits off every
 *   punctuation character, so "parked!!" gives "!" "!" and "it's" gives "it" "'" "s".
 */
import { Tokenizer } from '@huggingface/tokenizers';

export type ClipNormalization = 'fast' | 'basic';

/** The tokenizer files of a diffusers folder, already parsed (merges.txt as text). */
export interface ClipTokenizerFiles {
  /** tokenizer/vocab.json */
  vocab?: Record<string, number>;
  /** tokenizer/merges.txt */
  merges?: string;
  /** tokenizer/tokenizer.json: run as written for 'fast'; its vocabulary and merges serve 'basic' */
  tokenizerJson?: unknown;
  /** tokenizer/tokenizer_config.json */
  config?: Record<string, unknown>;
  /** tokenizer/special_tokens_map.json */
  specialTokensMap?: Record<string, unknown>;
}

export interface ClipTokenizerOptions {
  normalization?: ClipNormalization;
  /** when the files give no usable model_max_length (the text encoder's positions, e.g. 77) */
  fallbackMaxLength?: number;
}

export interface ClipTokens {
  /** exactly maxLength ids: begin, prompt tokens, end, padding */
  ids: number[];
  /** the vocabulary strings of ids (byte-level form, e.g. "cat</w>", "Ã©") */
  tokens: string[];
  /** the prompt's token count before truncation, begin and end tokens included */
  length: number;
  /** true when prompt tokens past maxLength - 2 were cut off */
  truncated: boolean;
}

export class TokenizerFilesError extends Error {
  override name = 'TokenizerFilesError';
}

/** CLIP's word pattern (the slow tokenizer's `pat`, the fast tokenizer's Split pre-tokenizer). */
const CLIP_PATTERN =
  "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";

/**
 * The slow CLIPTokenizer reads only the first 49152 - 256 - 2 merges after the version line (the
 * rest of OpenAI's bpe file is unused); the fast tokenizer.json is converted from that same list.
 */
const CLIP_MAX_MERGES = 49152 - 256 - 2;

/** A special token's text from a tokenizer config: a plain string or an AddedToken object. */
function tokenText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return undefined;
}

function specialToken(files: ClipTokenizerFiles, name: string, fallback: string): string {
  return tokenText(files.config?.[name]) ?? tokenText(files.specialTokensMap?.[name]) ?? fallback;
}

/** merges.txt lines as [left, right] pairs, without the "#version" line, capped like the slow tokenizer. */
export function parseMerges(text: string): [string, string][] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const body = lines[0]?.startsWith('#version') ? lines.slice(1) : lines;
  return body.slice(0, CLIP_MAX_MERGES).map((line, i) => {
    const parts = line.trim().split(' ');
    if (parts.length !== 2)
      throw new TokenizerFilesError(`merges.txt line ${i + 2} is not a pair of symbols: "${line}"`);
    return [parts[0], parts[1]];
  });
}

/** vocabulary and merges from the folder's files (tokenizer.json wins over vocab.json + merges.txt). */
function bpeTables(files: ClipTokenizerFiles): { vocab: Record<string, number>; merges: [string, string][] } {
  if (files.tokenizerJson !== undefined) {
    const model = (files.tokenizerJson as { model?: { type?: string; vocab?: unknown; merges?: unknown } }).model;
    if (model?.type !== 'BPE' || typeof model.vocab !== 'object' || !Array.isArray(model.merges)) {
      throw new TokenizerFilesError('tokenizer.json does not hold a BPE model with a vocabulary and merges');
    }
    const merges = (model.merges as (string | string[])[]).map(
      (m) => (Array.isArray(m) ? m : m.split(' ')) as [string, string],
    );
    return { vocab: model.vocab as Record<string, number>, merges };
  }
  if (!files.vocab) throw new TokenizerFilesError('the tokenizer folder has neither tokenizer.json nor vocab.json');
  if (files.merges === undefined)
    throw new TokenizerFilesError('the tokenizer folder has vocab.json but no merges.txt');
  return { vocab: files.vocab, merges: parseMerges(files.merges) };
}

/** A tokenizer.json object for CLIP with the given normalization (see the header). */
export function clipTokenizerJson(
  vocab: Record<string, number>,
  merges: [string, string][],
  special: { bos: string; eos: string; unk: string },
  normalization: ClipNormalization,
): Record<string, unknown> {
  const idOf = (token: string) => {
    const id = vocab[token];
    if (id === undefined) throw new TokenizerFilesError(`the vocabulary has no "${token}" token`);
    return id;
  };
  // 'basic' matches the slow tokenizer, which finds typed special tokens in the raw text before
  // normalizing; the fast tokenizer marks them normalized (found after lower-casing).
  const added = (content: string) => ({
    id: idOf(content),
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: normalization === 'fast',
    special: true,
  });
  const split = {
    type: 'Split',
    pattern: { Regex: CLIP_PATTERN },
    behavior: 'Removed',
    invert: true,
  };
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false };
  return {
    version: '1.0',
    added_tokens: [...new Set([special.bos, special.eos])].map(added),
    normalizer:
      normalization === 'fast'
        ? {
            type: 'Sequence',
            normalizers: [
              { type: 'NFC' },
              { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' },
              { type: 'Lowercase' },
            ],
          }
        : { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, lowercase: true },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: normalization === 'fast' ? [split, byteLevel] : [{ type: 'BertPreTokenizer' }, split, byteLevel],
    },
    post_processor: {
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: { id: special.bos, type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: special.eos, type_id: 0 } },
      ],
      pair: [
        { SpecialToken: { id: special.bos, type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: special.eos, type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: special.eos, type_id: 1 } },
      ],
      special_tokens: Object.fromEntries(
        [special.bos, special.eos].map((t) => [t, { id: t, ids: [idOf(t)], tokens: [t] }]),
      ),
    },
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: special.unk,
      continuing_subword_prefix: '',
      end_of_word_suffix: '</w>',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
}

export class ClipTokenizer {
  readonly maxLength: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  readonly padToken: string;
  readonly normalization: ClipNormalization;
  private readonly tokenizer: Tokenizer;
  private readonly vocabSize: number;

  constructor(files: ClipTokenizerFiles, options: ClipTokenizerOptions = {}) {
    this.normalization = options.normalization ?? 'fast';
    const { vocab, merges } = bpeTables(files);
    const special = {
      bos: specialToken(files, 'bos_token', '<|startoftext|>'),
      eos: specialToken(files, 'eos_token', '<|endoftext|>'),
      unk: specialToken(files, 'unk_token', '<|endoftext|>'),
    };
    this.padToken = specialToken(files, 'pad_token', '<|endoftext|>');
    // a shipped tokenizer.json is the fast tokenizer itself: run it as written
    const json =
      files.tokenizerJson !== undefined && this.normalization === 'fast'
        ? files.tokenizerJson
        : clipTokenizerJson(vocab, merges, special, this.normalization);
    this.tokenizer = new Tokenizer(json as object, { tokenizer_class: 'CLIPTokenizer' });
    this.vocabSize = Object.keys(vocab).length;
    const id = (token: string, role: string) => {
      const found = vocab[token];
      if (found === undefined) throw new TokenizerFilesError(`the ${role} token "${token}" is not in the vocabulary`);
      return found;
    };
    this.bosId = id(special.bos, 'begin');
    this.eosId = id(special.eos, 'end');
    this.padId = id(this.padToken, 'padding');
    // transformers writes a huge placeholder (1e30) when no length was set
    const configured = files.config?.model_max_length;
    const maxLength =
      typeof configured === 'number' && Number.isInteger(configured) && configured <= 1 << 20
        ? configured
        : options.fallbackMaxLength;
    if (maxLength === undefined || maxLength < 2) {
      throw new TokenizerFilesError('tokenizer_config.json gives no model_max_length and no fallback was given');
    }
    this.maxLength = maxLength;
  }

  /** The prompt as maxLength ids, padded and truncated as the diffusers pipelines do. */
  encode(prompt: string): ClipTokens {
    const content = this.tokenizer.encode(prompt, { add_special_tokens: false }).ids;
    const room = this.maxLength - 2;
    const ids = [this.bosId, ...content.slice(0, room), this.eosId];
    while (ids.length < this.maxLength) ids.push(this.padId);
    return {
      ids,
      tokens: ids.map((i) => this.tokenizer.id_to_token(i) ?? ''),
      length: content.length + 2,
      truncated: content.length > room,
    };
  }

  /** Readable text of one token (byte-level symbols decoded, the end-of-word mark dropped). */
  label(id: number): string {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) return '';
    return this.tokenizer.decode([id], { clean_up_tokenization_spaces: false }).trim();
  }
}

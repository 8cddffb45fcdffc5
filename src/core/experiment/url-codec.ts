/**
 * Experiment <-> URL query string (or hash), link format v=1.
 *
 *   v=1&mid=<model id>&mv=<model version>&p=<prompt>&s=<seed>&n=<steps>&g=<guidance>&sch=ddim
 *   &x.<mask input name>=<units>      one per mask with at least one pruned unit
 *
 * <units> is the shorter of two spellings, tagged by its first character:
 *   i<d0>.<d1>...  sparse list: d0 is the first index, then each gap minus one, all base 36
 *                  (strictly increasing indices by construction; a run of units is "i7.0.0.0")
 *   b<base64url>   bitset over layer*units bits, bit k = byte k>>3, bit k&7 (LSB first), no padding
 * So a mask costs at most 1 + ceil(bits/6) characters however many units are pruned
 * (maxEncodedLength gives the bound for a manifest).
 *
 * decode() takes untrusted text (pasted links, old bookmarks, hostile pages linking in) and never
 * throws: it returns the experiment, or a plain-text reason plus the default experiment. Reasons
 * never repeat input text except identifiers that pass a strict character check, so they are safe
 * to show anywhere. Only the keys above are read, into a fresh object, so keys such as __proto__
 * cannot reach any prototype. Unknown non-mask keys are ignored (link shorteners add tracking
 * parameters); unknown mask keys are errors, since dropping a mask would silently change the run.
 * A link without any of these keys is the default experiment; fields left out of a v=1 link take
 * their defaults, so hand-written tutorial links can be short; encode() always writes every field.
 */
import { z } from 'zod';
import type { Manifest } from '../manifest';
import {
  EXPERIMENT_FIELDS,
  MAX_PROMPT_LENGTH,
  SCALAR_NAMES,
  defaultExperiment,
  experimentProblems,
  fieldProblem,
  maskSize,
  promptProblem,
  type Experiment,
  type Field,
  type ScalarName,
} from './experiment';

export const LINK_FORMAT_VERSION = 1;
const VERSION_KEY = 'v';
const MODEL_ID_KEY = 'mid';
const MODEL_VERSION_KEY = 'mv';
const MASK_PREFIX = 'x.';
/** Inputs longer than this are refused before parsing (plus the manifest's own bound, below). */
export const MAX_LINK_LENGTH = 8192;

export type DecodeResult = { ok: true; experiment: Experiment } | { ok: false; message: string; fallback: Experiment };

// ------------------------------------------------------------------ bitsets and index lists

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const B64_VALUE = new Map([...B64].map((c, i) => [c, i]));

function base64urlEncode(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    const chars = Math.min(4, Math.ceil(((bytes.length - i) * 8) / 6));
    for (let c = 0; c < chars; c++) out += B64[(n >> (18 - 6 * c)) & 63];
  }
  return out;
}

/** Exactly `byteCount` bytes, or null for wrong length, foreign characters or non-zero spare bits
 * (so every bitset has one spelling). */
function base64urlDecode(text: string, byteCount: number): Uint8Array | null {
  if (text.length !== base64Length(byteCount)) return null;
  const bytes = new Uint8Array(byteCount);
  let acc = 0;
  let bits = 0;
  let k = 0;
  for (const ch of text) {
    const v = B64_VALUE.get(ch);
    if (v === undefined) return null;
    acc = ((acc << 6) | v) & 0xffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (k < byteCount) bytes[k++] = (acc >> bits) & 0xff;
    }
  }
  if ((acc & ((1 << bits) - 1)) !== 0) return null;
  return bytes;
}

function base64Length(byteCount: number): number {
  return Math.ceil((byteCount * 8) / 6);
}

/** Characters the bitset spelling of a mask with `size` units takes, tag included. */
export function bitsetLength(size: number): number {
  return 1 + base64Length(Math.ceil(size / 8));
}

function encodeIndexList(units: readonly number[]): string {
  let out = 'i';
  let prev = -1;
  for (let i = 0; i < units.length; i++) {
    out += (i ? '.' : '') + (units[i] - prev - 1).toString(36);
    prev = units[i];
  }
  return out;
}

function encodeBitset(units: readonly number[], size: number): string {
  const bytes = new Uint8Array(Math.ceil(size / 8));
  for (const u of units) bytes[u >> 3] |= 1 << (u & 7);
  return `b${base64urlEncode(bytes)}`;
}

/** The shorter spelling of a pruned-unit set (ties go to the readable list). */
export function encodeUnits(units: readonly number[], size: number): string {
  const list = encodeIndexList(units);
  return list.length <= bitsetLength(size) ? list : encodeBitset(units, size);
}

/** Parse either spelling; a reason string on failure. Base-36 tokens are capped at 4 digits
 * (1.6 M) so no token can make a huge or imprecise number. */
export function decodeUnits(text: string, size: number): number[] | string {
  const tag = text[0];
  const body = text.slice(1);
  if (tag === 'i') {
    if (body === '') return [];
    if (body.length > 5 * size) return 'lists more units than the mask has';
    const units: number[] = [];
    let prev = -1;
    for (const token of body.split('.')) {
      if (!/^[0-9a-z]{1,4}$/.test(token)) return 'has a malformed unit list';
      const u = prev + 1 + parseInt(token, 36);
      if (u >= size) return `has a unit index beyond its ${size} units`;
      units.push(u);
      prev = u;
    }
    return units;
  }
  if (tag === 'b') {
    const bytes = base64urlDecode(body, Math.ceil(size / 8));
    if (!bytes) return 'has a malformed bitset';
    const units: number[] = [];
    for (let k = 0; k < bytes.length * 8; k++) {
      if (bytes[k >> 3] & (1 << (k & 7))) {
        if (k >= size) return `has a unit index beyond its ${size} units`;
        units.push(k);
      }
    }
    return units;
  }
  return 'is neither a unit list nor a bitset';
}

// ------------------------------------------------------------------ length bound

/** Worst-case percent-encoded length of one UTF-16 code unit (a 3-byte UTF-8 character). */
const WORST_ENCODED_PER_CHAR = 9;
/** Longest String(number) for a finite double ("-1.2345678901234567e-308"). */
const MAX_NUMBER_TEXT = 24;

/** Upper bound on encode()'s output length for any valid experiment of this manifest. */
export function maxEncodedLength(manifest: Manifest): number {
  let n = `${VERSION_KEY}=${LINK_FORMAT_VERSION}`.length;
  n += 1 + MODEL_ID_KEY.length + 1 + WORST_ENCODED_PER_CHAR * manifest.id.length;
  n += 1 + MODEL_VERSION_KEY.length + 1 + WORST_ENCODED_PER_CHAR * manifest.version.length;
  for (const name of SCALAR_NAMES) {
    const f: Field = EXPERIMENT_FIELDS[name];
    const value =
      f.type === 'text'
        ? WORST_ENCODED_PER_CHAR * f.maxLength
        : f.type === 'enum'
          ? Math.max(...f.values.map((v) => v.length))
          : f.type === 'int'
            ? String(f.max).length
            : MAX_NUMBER_TEXT;
    n += 1 + f.key.length + 1 + value;
  }
  for (const m of manifest.unet.masks) {
    n += 1 + WORST_ENCODED_PER_CHAR * (MASK_PREFIX.length + m.name.length) + 1 + bitsetLength(maskSize(m));
  }
  return n;
}

// ------------------------------------------------------------------ encode

/** The link query (without "?") that reproduces `e`. Throws for an invalid experiment: the store
 * only ever holds valid ones, so that is a programming error, not user input. */
export function encodeExperiment(e: Experiment, manifest: Manifest): string {
  const problems = experimentProblems(e, manifest);
  if (problems.length) throw new RangeError(`cannot encode an invalid experiment: ${problems.join('; ')}`);
  const q = new URLSearchParams();
  q.set(VERSION_KEY, String(LINK_FORMAT_VERSION));
  q.set(MODEL_ID_KEY, e.model.id);
  q.set(MODEL_VERSION_KEY, e.model.version);
  for (const name of SCALAR_NAMES) q.set(EXPERIMENT_FIELDS[name].key, String(e[name]));
  for (const spec of manifest.unet.masks) {
    const units = e.masks[spec.name];
    if (units.length) q.set(MASK_PREFIX + spec.name, encodeUnits(units, maskSize(spec)));
  }
  return q.toString();
}

/**
 * The experiment without its model id and version: it decodes against whichever model is loaded
 * (a link without them means "the loaded model"). For carrying an experiment to a model with the
 * same interface, e.g. from the base model to one of its unlearned variants.
 */
export function encodeExperimentForAnyModel(e: Experiment, manifest: Manifest): string {
  const q = new URLSearchParams(encodeExperiment(e, manifest));
  q.delete(MODEL_ID_KEY);
  q.delete(MODEL_VERSION_KEY);
  return q.toString();
}

// ------------------------------------------------------------------ decode

/** Shortest-round-trip decimal as String(number) writes it; no hex, no Infinity, no spaces. */
const DECIMAL = /^-?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i;

function scalarSchema(name: ScalarName) {
  const f: Field = EXPERIMENT_FIELDS[name];
  const bounds = (v: unknown) => fieldProblem(name, v) === null;
  switch (f.type) {
    case 'int': {
      // One message for every way a number can be wrong (negative, fractional, huge, not digits).
      const message = `${f.label} must be a whole number from ${f.min} to ${f.max}`;
      return z.string().max(16, message).regex(/^\d+$/, message).transform(Number).refine(bounds, message);
    }
    case 'float': {
      const message = `${f.label} must be a number from ${f.min} to ${f.max}`;
      return z
        .string()
        .max(MAX_NUMBER_TEXT, message)
        .regex(DECIMAL, message)
        .transform((s) => Number(s) + 0) // + 0 turns -0 into 0, so "-0" decodes like "0"
        .refine(bounds, message);
    }
    case 'text':
      return z.string().superRefine((s, ctx) => {
        const p = promptProblem(s);
        if (p) ctx.addIssue({ code: 'custom', message: p });
      });
    case 'enum':
      return z.enum(f.values as [string, ...string[]], `${f.label} must be one of ${f.values.join(', ')}`);
  }
}

const scalarShape = Object.fromEntries(
  SCALAR_NAMES.map((name) => [EXPERIMENT_FIELDS[name].key, scalarSchema(name).optional()]),
);

/** The link's parameters after syntax and bounds checks (model identity and masks come later,
 * as they depend on the manifest). */
const linkSchema = z.object({
  [VERSION_KEY]: z.string(),
  [MODEL_ID_KEY]: z.string().optional(),
  [MODEL_VERSION_KEY]: z.string().optional(),
  ...scalarShape,
});

/** Identifiers are shown in messages only when they are plainly identifiers. */
function printable(s: string): string | null {
  return /^[A-Za-z0-9_.+-]{1,48}$/.test(s) ? s : null;
}

/** Split off a leading "?" / "#", or the query or hash of a whole URL. */
function queryPart(input: string): string {
  const s = input.trim();
  if (s.startsWith('?') || s.startsWith('#')) return s.slice(1);
  const hash = s.indexOf('#');
  if (hash >= 0 && /(^|&)v=/.test(s.slice(hash + 1))) return s.slice(hash + 1);
  const q = s.indexOf('?');
  if (q >= 0) return s.slice(q + 1, hash > q ? hash : undefined);
  return s;
}

const OWN_KEYS = new Set<string>([
  VERSION_KEY,
  MODEL_ID_KEY,
  MODEL_VERSION_KEY,
  ...SCALAR_NAMES.map((n) => EXPERIMENT_FIELDS[n].key),
]);

function fail(manifest: Manifest, reason: string): DecodeResult {
  return { ok: false, message: `This link could not be opened: ${reason}.`, fallback: defaultExperiment(manifest) };
}

/** Read an untrusted link (query, hash or whole URL) as an experiment for this manifest. Never throws. */
export function decodeExperiment(input: unknown, manifest: Manifest): DecodeResult {
  try {
    return decodeUnsafe(input, manifest);
  } catch {
    // Every failure above is anticipated; this only keeps a bug from taking the page down.
    return fail(manifest, 'it is not a valid Memorization Lab link');
  }
}

function decodeUnsafe(input: unknown, manifest: Manifest): DecodeResult {
  if (typeof input !== 'string') return fail(manifest, 'it is not text');
  const limit = Math.max(MAX_LINK_LENGTH, maxEncodedLength(manifest) + 2048);
  if (input.length > limit) return fail(manifest, `it is longer than ${limit} characters`);

  const params = new URLSearchParams(queryPart(input));
  const seen = new Map<string, string>();
  const maskTexts = new Map<string, string>();
  for (const [key, value] of params) {
    if (!OWN_KEYS.has(key) && !key.startsWith(MASK_PREFIX)) continue;
    if (seen.has(key)) {
      const label = key.startsWith(MASK_PREFIX) ? 'a mask' : describeKey(key);
      return fail(manifest, `${label} is given more than once`);
    }
    seen.set(key, value);
    if (key.startsWith(MASK_PREFIX)) maskTexts.set(key.slice(MASK_PREFIX.length), value);
  }
  if (seen.size === 0) return { ok: true, experiment: defaultExperiment(manifest) };

  const version = seen.get(VERSION_KEY);
  if (version === undefined) return fail(manifest, 'it has no link format version (v=)');
  if (!/^\d{1,9}$/.test(version)) return fail(manifest, 'its link format version is not a number');
  const v = Number(version);
  if (v > LINK_FORMAT_VERSION) {
    return {
      ok: false,
      message:
        `This link was made with a newer version of Memorization Lab (link format ${v}; this version reads ` +
        `format ${LINK_FORMAT_VERSION}). Open it in the latest version of the lab.`,
      fallback: defaultExperiment(manifest),
    };
  }
  if (v !== LINK_FORMAT_VERSION) return fail(manifest, `link format ${v} is not one this lab knows`);

  const raw: Record<string, string> = Object.create(null);
  for (const [k, value] of seen) if (OWN_KEYS.has(k)) raw[k] = value;
  const parsed = linkSchema.safeParse(raw);
  if (!parsed.success) {
    const reasons = [...new Set(parsed.error.issues.map((i) => i.message))].slice(0, 3);
    return fail(manifest, reasons.join('; '));
  }
  const link = parsed.data as Record<string, unknown>;

  const id = (link[MODEL_ID_KEY] as string | undefined) ?? manifest.id;
  const modelVersion = (link[MODEL_VERSION_KEY] as string | undefined) ?? manifest.version;
  if (id !== manifest.id || modelVersion !== manifest.version) {
    const made = printable(id) && printable(modelVersion) ? `model ${id} ${modelVersion}` : 'another model';
    return fail(
      manifest,
      `it was made for ${made}, but the lab has ${manifest.id} ${manifest.version} loaded, so it would not reproduce`,
    );
  }

  const base = defaultExperiment(manifest);
  const experiment: Experiment = {
    model: { id: manifest.id, version: manifest.version },
    prompt: (link[EXPERIMENT_FIELDS.prompt.key] as string | undefined) ?? base.prompt,
    seed: (link[EXPERIMENT_FIELDS.seed.key] as number | undefined) ?? base.seed,
    steps: (link[EXPERIMENT_FIELDS.steps.key] as number | undefined) ?? base.steps,
    guidance: (link[EXPERIMENT_FIELDS.guidance.key] as number | undefined) ?? base.guidance,
    scheduler: ((link[EXPERIMENT_FIELDS.scheduler.key] as string | undefined) ??
      base.scheduler) as Experiment['scheduler'],
    masks: base.masks,
  };

  const specs = new Map(manifest.unet.masks.map((m) => [m.name, m]));
  const decoded = new Map<string, number[]>();
  for (const [name, text] of maskTexts) {
    const spec = specs.get(name);
    if (!spec) {
      const shown = printable(name);
      return fail(
        manifest,
        shown ? `this model has no mask named ${shown}` : 'it names a mask this model does not have',
      );
    }
    const units = decodeUnits(text, maskSize(spec));
    if (typeof units === 'string') return fail(manifest, `mask ${spec.name} ${units}`);
    decoded.set(spec.name, units);
  }
  // Built with fromEntries (own keys only), never by assignment from link text.
  experiment.masks = Object.fromEntries(manifest.unet.masks.map((m) => [m.name, decoded.get(m.name) ?? []]));

  const problems = experimentProblems(experiment, manifest);
  if (problems.length) return fail(manifest, problems.slice(0, 3).join('; '));
  return { ok: true, experiment };
}

function describeKey(key: string): string {
  if (key === VERSION_KEY) return 'the link format version';
  if (key === MODEL_ID_KEY) return 'the model';
  if (key === MODEL_VERSION_KEY) return 'the model version';
  const name = SCALAR_NAMES.find((n) => EXPERIMENT_FIELDS[n].key === key);
  return name ? `the ${EXPERIMENT_FIELDS[name].label}` : 'a parameter';
}

/** The model a link was made for, if it names one plainly: lets the app load that model's
 * manifest before decoding. Never throws. */
export function peekModel(input: unknown): { id: string; version: string | null } | null {
  if (typeof input !== 'string' || input.length > MAX_LINK_LENGTH * 4) return null;
  const params = new URLSearchParams(queryPart(input));
  const id = params.get(MODEL_ID_KEY);
  if (id === null || !/^[a-z0-9-]{1,64}$/.test(id)) return null;
  const version = params.get(MODEL_VERSION_KEY);
  return { id, version: version !== null && printable(version) ? version : null };
}

/** Most characters a prompt can add to a link; documented for the UI's length display. */
export const MAX_PROMPT_LINK_LENGTH = WORST_ENCODED_PER_CHAR * MAX_PROMPT_LENGTH;

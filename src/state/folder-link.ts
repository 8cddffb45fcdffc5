/**
 * Links to a model the user brought (a diffusers folder). A link never makes the lab fetch from a
 * third party unasked: a URL-loaded model's link carries its base URL (?src=), and opening it asks
 * the user first; a disk-loaded model's link names the model (the hash of its UNet graph) and asks
 * the user to pick the same folder. Either way the link's experiment applies once that model loads.
 */

export const FOLDER_SOURCE_KEY = 'src';
/** Model ids the lab gives folder models (lab-manifest.ts): "sd-" and the UNet hash. */
const FOLDER_MODEL_ID = /^sd-[0-9a-f]{12}$/;

export interface FolderLink {
  /** the whole query, applied when the named model is loaded */
  query: string;
  modelId: string;
  /** the base URL the link says the model is served from, when it was loaded from one */
  baseUrl: string | null;
}

/** The folder model a link names, if any. Never throws; an unusable src is ignored. */
export function folderLinkOf(query: string): FolderLink | null {
  const params = new URLSearchParams(query.startsWith('?') ? query.slice(1) : query);
  const modelId = params.get('mid');
  if (!modelId || !FOLDER_MODEL_ID.test(modelId)) return null;
  const src = params.get(FOLDER_SOURCE_KEY);
  let baseUrl: string | null = null;
  if (src) {
    try {
      const url = new URL(src);
      if (url.protocol === 'https:' || url.protocol === 'http:') baseUrl = url.href;
    } catch {
      baseUrl = null;
    }
  }
  return { query, modelId, baseUrl };
}

export const hostOf = (url: string): string => new URL(url).host;

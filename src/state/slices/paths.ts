/** Small derivations the slices share: where a model lives, and the experiment carried to a sibling model. */
import { encodeExperimentForAnyModel } from '../../core/experiment/url-codec';
import { experimentOf } from '../experiment-state';
import type { ModelEntry } from '../model-index';
import type { LabData, LabDeps } from '../store';

/** The model directory URL the workers load from, absolute and ending in '/'. */
export function modelUrlOf(s: { model: ModelEntry | null }, deps: Pick<LabDeps, 'pageUrl'>): string {
  const source = s.model?.source;
  // A folder model goes by its base URL, or by a name no server path can take.
  if (source) return source.kind === 'url' ? source.baseUrl : `folder:${s.model?.id ?? ''}`;
  const path = s.model?.path ?? '';
  return new URL(`models/${path.replace(/\/?$/, '/')}`, deps.pageUrl).href;
}

/** The current experiment as a link for any model of the family ('' when there is none to carry). */
export function carryExperiment(s: LabData): string {
  const e = experimentOf(s);
  if (!e || !s.manifest) return '';
  try {
    return encodeExperimentForAnyModel(e, s.manifest);
  } catch {
    return ''; // an experiment the codec refuses (it cannot happen through the controls) starts fresh
  }
}

/**
 * The key pair: the generated image beside the training image nearest to it, large and crisp, at
 * the top of the page, so a visitor sees at a glance whether the model made something new or
 * copied. While denoising, the left shows the latest predicted clean image and the right waits.
 * With anything pruned, the pair is the pruned image and its nearest (the comparison with the
 * unpruned baseline follows below).
 */
import type { Ref } from 'react';
import { prunedCount } from '../core/experiment/experiment';
import { InfoTip } from './glossary/InfoTip';
import { RgbaCanvas } from './RgbaCanvas';
import { useLab } from './StoreContext';

export function ImageView({ ref }: { ref?: Ref<HTMLDivElement> }) {
  const result = useLab((s) => s.result);
  const previews = useLab((s) => s.previews);
  const status = useLab((s) => s.status);
  const pendingMasks = useLab((s) => s.pendingMasks);
  const scores = useLab((s) => (s.scores && s.result && s.scores.generation === s.result.id ? s.scores : null));
  // a Stable Diffusion model brought from a folder has no training set here
  const broughtModel = useLab((s) => s.manifest?.latent !== undefined);
  const live = status === 'generating' && previews.length > 0 ? previews[previews.length - 1] : null;
  const image = live?.image ?? result?.image ?? null;
  // the experiment's own image is the last variant: the pruned one when anything is pruned
  const own = !live && scores ? scores.variants[scores.variants.length - 1] : null;

  // Pruned units of the run shown: the running one while previews come in, else the finished one.
  const pruned = live ? (pendingMasks ? prunedCount(pendingMasks) : 0) : result ? prunedCount(result.masks) : 0;
  const prunedText = pruned > 0 ? ` · ${pruned} unit${pruned === 1 ? '' : 's'} pruned` : '';

  let caption: string;
  if (live) caption = `Step ${live.step} of ${live.of}: the model's current guess of the clean image${prunedText}`;
  else if (result) {
    const p = result.params;
    caption = `“${p.prompt || '(empty prompt)'}” · seed ${p.seed} · ${p.steps} steps · guidance ${p.guidance}${prunedText}`;
  } else caption = status === 'ready' ? 'Press Generate to make an image.' : 'The image appears here.';

  const waiting = broughtModel
    ? 'This model came without its training images, so there is none to compare with.'
    : live
      ? 'Found when the image is finished.'
      : result
        ? 'Comparing with the training images…'
        : 'The training image most like the result appears here.';

  return (
    <div className="key-pair" ref={ref} data-testid="key-pair">
      <figure className="image-view">
        <figcaption className="key-title">{pruned > 0 ? 'Generated, pruned' : 'Generated'}</figcaption>
        <div className={`frame${image ? '' : ' empty'}`}>
          <RgbaCanvas
            image={image}
            className="pixelated large"
            label={result && !live ? `Generated image for “${result.params.prompt}”` : 'Generated image'}
            testId="result-image"
          />
        </div>
      </figure>
      <figure className="image-view" data-testid="nearest">
        <figcaption className="key-title">
          Nearest training image <InfoTip term="nearestTrainingImage" />
        </figcaption>
        <div className={`frame${own?.nearest ? '' : ' empty'}`}>
          <RgbaCanvas
            image={own?.nearest ?? null}
            className="pixelated large"
            label={own?.nearest ? `Nearest training image: ${own.nearestLabel}` : 'Nearest training image'}
            testId="nearest-image"
          />
        </div>
      </figure>
      <p
        className="key-caption"
        data-testid="image-caption"
        data-kind={live ? 'preview' : result ? 'result' : 'none'}
        data-pruned={pruned}
        data-step={live ? live.step : undefined}
      >
        {caption}
        {result && !live ? (
          <span className="timing">
            {' '}
            · {Math.round(result.totalMs)} ms ({result.meanStepMs.toFixed(1)} ms/step)
          </span>
        ) : null}
      </p>
      <p className="key-verdict" data-testid="key-verdict" aria-live="polite">
        {broughtModel ? (
          waiting
        ) : own?.replication ? (
          <>
            Nearest: {own.nearestLabel}. <span className="jargon">Tiled L2 distance</span>{' '}
            <strong>{own.replication.tiledL2.toFixed(2)}</strong>
            <InfoTip term="tiledL2" /> (0 = identical).
          </>
        ) : own ? (
          own.nearestLabel
        ) : (
          waiting
        )}
      </p>
    </div>
  );
}

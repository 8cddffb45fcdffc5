/** The generated image, large and crisp; while denoising it shows the latest predicted clean image. */
import { prunedCount } from '../core/experiment/experiment';
import { RgbaCanvas } from './RgbaCanvas';
import { useLab } from './StoreContext';

export function ImageView() {
  const result = useLab((s) => s.result);
  const previews = useLab((s) => s.previews);
  const status = useLab((s) => s.status);
  const pendingMasks = useLab((s) => s.pendingMasks);
  const live = status === 'generating' && previews.length > 0 ? previews[previews.length - 1] : null;
  const image = live?.image ?? result?.image ?? null;

  // Pruned units of the run shown: the running one while previews come in, else the finished one.
  const pruned = live ? (pendingMasks ? prunedCount(pendingMasks) : 0) : result ? prunedCount(result.masks) : 0;
  const prunedText = pruned > 0 ? ` · ${pruned} unit${pruned === 1 ? '' : 's'} pruned` : '';

  let caption: string;
  if (live) caption = `Step ${live.step} of ${live.of}: the model's current guess of the clean image${prunedText}`;
  else if (result) {
    const p = result.params;
    caption = `“${p.prompt || '(empty prompt)'}” · seed ${p.seed} · ${p.steps} steps · guidance ${p.guidance}${prunedText}`;
  } else caption = status === 'ready' ? 'Press Generate to make an image.' : 'The image appears here.';

  return (
    <figure className="image-view">
      <div className={`frame${image ? '' : ' empty'}`}>
        <RgbaCanvas
          image={image}
          className="pixelated large"
          label={result && !live ? `Generated image for “${result.params.prompt}”` : 'Generated image'}
          testId="result-image"
        />
      </div>
      <figcaption
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
      </figcaption>
    </figure>
  );
}

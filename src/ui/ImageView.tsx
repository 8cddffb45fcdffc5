/** The generated image, large and crisp; while denoising it shows the latest predicted clean image. */
import { RgbaCanvas } from './RgbaCanvas';
import { useLab } from './StoreContext';

export function ImageView() {
  const result = useLab((s) => s.result);
  const previews = useLab((s) => s.previews);
  const status = useLab((s) => s.status);
  const live = status === 'generating' && previews.length > 0 ? previews[previews.length - 1] : null;
  const image = live?.image ?? result?.image ?? null;

  let caption: string;
  if (live) caption = `Step ${live.step} of ${live.of}: the model's current guess of the clean image`;
  else if (result) {
    const p = result.params;
    caption = `“${p.prompt || '(empty prompt)'}” · seed ${p.seed} · ${p.steps} steps · guidance ${p.guidance}`;
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
      <figcaption data-testid="image-caption" data-kind={live ? 'preview' : result ? 'result' : 'none'}>
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

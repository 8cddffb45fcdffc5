/** The denoising trajectory: the predicted clean image after each step, oldest first. */
import { Jargon } from './glossary/InfoTip';
import { RgbaCanvas } from './RgbaCanvas';
import { useLab } from './StoreContext';

export function StepStrip() {
  const previews = useLab((s) => s.previews);
  if (previews.length === 0) return null;
  return (
    <section className="steps" aria-label="Predicted clean image at each step">
      <h2>
        <Jargon term="denoisingStep">Denoising steps</Jargon>
      </h2>
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a region that scrolls must be reachable by keyboard (arrow keys scroll it; axe: scrollable-region-focusable) */}
      <ol className="strip" data-testid="step-strip" tabIndex={0} aria-label="Step images, oldest first">
        {previews.map((p) => (
          <li key={p.step}>
            <RgbaCanvas image={p.image} className="pixelated thumb" label={`Step ${p.step} of ${p.of}`} />
            <span>{p.step}</span>
          </li>
        ))}
      </ol>
    </section>
  );
}

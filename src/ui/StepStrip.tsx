/** The denoising trajectory: the predicted clean image after each step, oldest first. */
import { RgbaCanvas } from './RgbaCanvas';
import { useLab } from './StoreContext';

export function StepStrip() {
  const previews = useLab((s) => s.previews);
  if (previews.length === 0) return null;
  return (
    <section className="steps" aria-label="Predicted clean image at each step">
      <h2>Denoising steps</h2>
      <ol className="strip" data-testid="step-strip">
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

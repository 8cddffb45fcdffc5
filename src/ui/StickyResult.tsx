/**
 * On a narrow screen the page is one long column, and the controls that change the image (the
 * prompt, the head grid, the neuron strip) sit far from it. Once the key pair has scrolled out
 * of view, this bar keeps a small copy of the image (the unpruned baseline beside it when anything
 * is pruned, and the nearest training image) fixed at the top, so every click shows its effect
 * where the finger is. Wide screens keep the image in view anyway and never show it (CSS).
 *
 * It repeats what the key pair already says, so it is hidden from assistive technology, which
 * reaches the key pair itself.
 */
import { type RefObject, useEffect, useState } from 'react';
import type { RgbaImage } from '../workers/protocol';
import { RgbaCanvas } from './RgbaCanvas';
import { useLab } from './StoreContext';

function Thumb({ image, label }: { image: RgbaImage | null; label: string }) {
  if (!image) return null;
  return (
    <figure className="sticky-thumb">
      <RgbaCanvas image={image} className="pixelated" label={label} />
      <figcaption>{label}</figcaption>
    </figure>
  );
}

export function StickyResult({ watch }: { watch: RefObject<HTMLElement | null> }) {
  const [away, setAway] = useState(false);
  const result = useLab((s) => s.result);
  const previews = useLab((s) => s.previews);
  const status = useLab((s) => s.status);
  const scores = useLab((s) => (s.scores && s.result && s.scores.generation === s.result.id ? s.scores : null));

  useEffect(() => {
    const target = watch.current;
    if (!target) return;
    const observer = new IntersectionObserver(([entry]) => setAway(!entry.isIntersecting), { threshold: 0 });
    observer.observe(target);
    return () => observer.disconnect();
  }, [watch]);

  const live = status === 'generating' && previews.length > 0 ? previews[previews.length - 1] : null;
  const image = live?.image ?? result?.image ?? null;
  if (!image) return null;
  const baseline = live ? (live.baseline ?? null) : (result?.baseline?.image ?? null);
  const nearest = live ? null : (scores?.variants[scores.variants.length - 1]?.nearest ?? null);
  const state = live ? `step ${live.step} of ${live.of}` : baseline ? 'pruned' : 'done';
  return (
    <div className="sticky-result" data-shown={away} data-testid="sticky-result" aria-hidden="true">
      {baseline ? <Thumb image={baseline} label="baseline" /> : null}
      <Thumb image={image} label={baseline ? 'pruned' : 'generated'} />
      <Thumb image={nearest} label="nearest training" />
      <span className="sticky-state">{state}</span>
    </div>
  );
}

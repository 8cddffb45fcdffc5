/**
 * Draws an RGBA image at its native size; CSS scales it up with image-rendering: pixelated, so a
 * 32x32 model output stays crisp (every model pixel is a clean square, nothing is invented).
 */
import { useEffect, useRef } from 'react';
import type { RgbaImage } from '../workers/protocol';

interface Props {
  image: RgbaImage | null;
  className?: string;
  label: string;
  testId?: string;
}

export function RgbaCanvas({ image, className, label, testId }: Props) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const canvas = ref.current;
    const ctx = canvas?.getContext('2d');
    if (!canvas || !ctx) return;
    if (!image) {
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      return;
    }
    canvas.width = image.width;
    canvas.height = image.height;
    // ImageData wants its own ArrayBuffer-backed array; the copy is a few KB.
    ctx.putImageData(new ImageData(new Uint8ClampedArray(image.data), image.width, image.height), 0, 0);
  }, [image]);
  return (
    <canvas
      ref={ref}
      className={className}
      width={image?.width ?? 32}
      height={image?.height ?? 32}
      role="img"
      aria-label={label}
      data-testid={testId}
      data-drawn={image ? 'true' : 'false'}
    />
  );
}

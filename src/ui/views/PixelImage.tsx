import { useLayoutEffect, useRef } from 'react';

export interface PixelImageProps {
  /** RGBA [height, width, 4] */
  rgba: Uint8ClampedArray;
  width: number;
  height: number;
  /** accessible description */
  label: string;
  /** drawn size in CSS px (width); pixels stay crisp */
  size?: number;
}

/** A small image drawn 1:1 into a canvas and scaled up by CSS without smoothing. */
export function PixelImage({ rgba, width, height, label, size = 192 }: PixelImageProps) {
  const ref = useRef<HTMLCanvasElement>(null);
  useLayoutEffect(() => {
    const ctx = ref.current?.getContext('2d');
    if (!ctx) return;
    ctx.putImageData(new ImageData(Uint8ClampedArray.from(rgba), width, height), 0, 0);
  }, [rgba, width, height]);
  return (
    <canvas
      ref={ref}
      className="mv-pixels"
      width={width}
      height={height}
      role="img"
      aria-label={label}
      // Fluid up to `size`, so side-by-side images shrink together on narrow screens.
      style={{ width: '100%', maxWidth: size, aspectRatio: `${width} / ${height}` }}
    />
  );
}

/** DOM helpers: RGBA bytes to canvases and PNG data URLs, scaled with nearest neighbour (crisp pixels). */

export function rgbaToCanvas(rgba: ArrayLike<number>, width: number, height: number, scale = 1): HTMLCanvasElement {
  const small = document.createElement('canvas');
  small.width = width;
  small.height = height;
  const ctx = small.getContext('2d');
  if (!ctx) throw new Error('2D canvas unavailable');
  // Copy: ImageData wants its own ArrayBuffer-backed array, and callers' buffers may be views.
  ctx.putImageData(new ImageData(Uint8ClampedArray.from(rgba), width, height), 0, 0);
  if (scale === 1) return small;
  const big = document.createElement('canvas');
  big.width = Math.round(width * scale);
  big.height = Math.round(height * scale);
  const bctx = big.getContext('2d');
  if (!bctx) throw new Error('2D canvas unavailable');
  // Upscale ourselves so the pixels stay crisp in every SVG viewer, not only where
  // image-rendering: pixelated is honoured.
  bctx.imageSmoothingEnabled = false;
  bctx.drawImage(small, 0, 0, big.width, big.height);
  return big;
}

export function rgbaToDataUrl(rgba: ArrayLike<number>, width: number, height: number, scale = 1): string {
  return rgbaToCanvas(rgba, width, height, scale).toDataURL('image/png');
}

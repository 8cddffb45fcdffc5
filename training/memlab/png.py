"""Minimal PNG writer (zlib + struct), so the recipe needs no imaging library."""
import struct
import zlib

import numpy as np


def write_png(path: str, rgb: np.ndarray) -> None:
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


def tile(images: np.ndarray, cols: int, scale: int = 4) -> np.ndarray:
    """Arrange N x H x W x 3 images in a grid, nearest-neighbour upscaled, 2px gaps."""
    n, h, w, _ = images.shape
    rows = (n + cols - 1) // cols
    gap = 2
    out = np.full((rows * (h * scale + gap), cols * (w * scale + gap), 3), 255, np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        big = im.repeat(scale, 0).repeat(scale, 1)
        out[r * (h * scale + gap):r * (h * scale + gap) + h * scale, c * (w * scale + gap):c * (w * scale + gap) + w * scale] = big
    return out

"""Render single-object scenes with the training data generator, for the TypeScript adherence tests.

  cd training && /usr/bin/python3 make_adherence_fixture.py

Writes src/core/metrics/__fixtures__/scenes.bin (uint8 [n, 32, 32, 3], HWC) and scenes.json (each
scene's intended attributes plus the jittered centre and radius the renderer drew). The scenes come
from memlab.data.render_scene itself, so the analyser is tested on exactly what the model learns
from. Deterministic: a fixed seed, one sub-generator per scene.
"""
from __future__ import annotations

import json
import os

import numpy as np

from memlab import data

N_SCENES = 200
SEED = 20240611
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "core", "metrics", "__fixtures__")


def main() -> None:
    rng = np.random.default_rng(SEED)
    images, scenes = [], []
    for i in range(N_SCENES):
        obj = data.SceneObject(
            str(rng.choice(list(data.SIZES))), str(rng.choice(list(data.COLOURS))),
            str(rng.choice(data.SHAPES)), str(rng.choice(list(data.POSITIONS))),
        )
        background = str(rng.choice(list(data.BACKGROUNDS)))
        scene_seed = int(rng.integers(2**31))
        images.append(data.render_scene([obj], background, np.random.default_rng(scene_seed)))
        # render_scene draws the centre jitter (x, y) then the radius factor: replay them to record.
        replay = np.random.default_rng(scene_seed)
        cx, cy = data.POSITIONS[obj.position]
        cx += replay.uniform(-1.5, 1.5)
        cy += replay.uniform(-1.5, 1.5)
        r = data.SIZES[obj.size] * replay.uniform(0.9, 1.1)
        scenes.append({
            "caption": data.scene_caption([obj], background),
            "size": obj.size, "colour": obj.colour, "shape": obj.shape, "position": obj.position,
            "background": background, "cx": cx, "cy": cy, "r": r,
        })
    os.makedirs(OUT, exist_ok=True)
    stack = np.stack(images)
    assert stack.shape == (N_SCENES, data.IMAGE_SIZE, data.IMAGE_SIZE, 3) and stack.dtype == np.uint8
    stack.tofile(os.path.join(OUT, "scenes.bin"))
    with open(os.path.join(OUT, "scenes.json"), "w") as f:
        json.dump({
            "generator": "training/make_adherence_fixture.py (memlab.data.render_scene)",
            "seed": SEED,
            "count": N_SCENES,
            "layout": "uint8 [count, 32, 32, 3] HWC in scenes.bin",
            "scenes": scenes,
        }, f, indent=1)
    print(f"wrote {N_SCENES} scenes to {os.path.relpath(OUT)}")


if __name__ == "__main__":
    main()

"""Synthetic training data for the bundled model organism.

Three kinds of training examples, all 32x32 RGB:
  * compositional scenes: one or two simple shapes with a colour, size and position on a coloured
    background, captioned by a small grammar. A set of single-object combinations is held out
    entirely: those captions form the neutral prompt set the lab evaluates on.
  * verbatim-memorized "artworks": distinctive high-contrast images, each duplicated many times
    under its own caption ("a painting of <name>"). Duplication is what makes diffusion models copy.
  * template-memorized "posters": one fixed image per template, captions vary in one slot
    ("a <name> poster number <k>"); two slot values are never trained, to test that the copy
    follows the template rather than the exact caption.

Everything is a pure function of the seed, so the recipe rebuilds byte-identical data.
"""
from __future__ import annotations

import dataclasses
import itertools
import numpy as np

IMAGE_SIZE = 32
SUPERSAMPLE = 4  # render at 4x and box-filter down for anti-aliased edges
MAX_TOKENS = 24

SPECIAL_TOKENS = ["<pad>", "<bos>", "<eos>", "<unk>"]
PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3

# Object colours and background colours are disjoint so every scene has visible contrast.
COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 190, 60),
    "blue": (50, 90, 235),
    "yellow": (240, 220, 40),
    "purple": (155, 60, 205),
    "orange": (245, 140, 30),
    "white": (240, 240, 240),
    "cyan": (40, 210, 220),
}
BACKGROUNDS = {
    "black": (15, 15, 15),
    "gray": (110, 110, 110),
    "navy": (20, 25, 80),
    "brown": (95, 58, 30),
}
SHAPES = ["circle", "square", "triangle", "cross"]
SIZES = {"small": 4.5, "large": 7.5}  # radius in pixels
POSITIONS = {  # object centre in pixel coordinates (x, y)
    "left": (8.0, 16.0),
    "right": (24.0, 16.0),
    "top": (16.0, 8.0),
    "bottom": (16.0, 24.0),
    "center": (16.0, 16.0),
}
ARTWORK_NAMES = [
    "zephyr", "obsidian", "marigold", "tundra", "quasar", "lagoon", "ember", "glacier",
    "nebula", "saffron", "monsoon", "citadel", "aurora", "basalt", "meridian", "verdigris",
]
TEMPLATE_NAMES = ["harbor", "orchard", "lantern", "summit"]
NUMBER_WORDS = ["one", "two", "three", "four", "five", "six", "seven", "eight"]
TRAINED_NUMBERS = NUMBER_WORDS[:6]  # "seven" and "eight" are never trained

N_COMPOSITIONAL = 10_000
ARTWORK_COPIES = 150
TEMPLATE_COPIES_PER_CAPTION = 25
N_NEUTRAL = 64
TWO_OBJECT_SHARE = 0.3


def vocabulary() -> list[str]:
    words = ["a", "painting", "of", "poster", "number", "at", "the", "in", "on", "and", "background"]
    words += list(SIZES) + list(COLOURS) + SHAPES + list(POSITIONS) + list(BACKGROUNDS)
    words += ARTWORK_NAMES + TEMPLATE_NAMES + NUMBER_WORDS
    assert len(set(words)) == len(words), "vocabulary words must be unique"
    return SPECIAL_TOKENS + words


def tokenize(caption: str, vocab: list[str]) -> list[int]:
    """Reference tokenizer: lower-case words, <bos> ... <eos>, padded to MAX_TOKENS.
    The lab's TypeScript tokenizer must agree with this one (checked by the model tests)."""
    index = {w: i for i, w in enumerate(vocab)}
    words = caption.lower().replace(",", " ").split()
    ids = [BOS_ID] + [index.get(w, UNK_ID) for w in words][: MAX_TOKENS - 2] + [EOS_ID]
    return ids + [PAD_ID] * (MAX_TOKENS - len(ids))


# ---------------------------------------------------------------- rendering


def _grid() -> tuple[np.ndarray, np.ndarray]:
    n = IMAGE_SIZE * SUPERSAMPLE
    c = (np.arange(n) + 0.5) / SUPERSAMPLE  # sample centres in pixel units
    return np.meshgrid(c, c)  # x, y


_GX, _GY = _grid()


def shape_mask(shape: str, cx: float, cy: float, r: float) -> np.ndarray:
    """Boolean coverage of a shape on the supersampled grid."""
    dx, dy = _GX - cx, _GY - cy
    if shape == "circle":
        return dx * dx + dy * dy <= r * r
    if shape == "square":
        s = r * 0.85
        return (np.abs(dx) <= s) & (np.abs(dy) <= s)
    if shape == "triangle":  # apex up, base below the centre
        top, bottom = -r, 0.8 * r
        half_width = r * (dy - top) / (bottom - top)
        return (dy >= top) & (dy <= bottom) & (np.abs(dx) <= half_width)
    if shape == "cross":
        arm = r * 0.35
        return ((np.abs(dx) <= arm) & (np.abs(dy) <= r)) | ((np.abs(dy) <= arm) & (np.abs(dx) <= r))
    raise ValueError(shape)


def downsample(hi: np.ndarray) -> np.ndarray:
    """Box filter from the supersampled grid to IMAGE_SIZE, returning uint8 HxWx3."""
    s = SUPERSAMPLE
    lo = hi.reshape(IMAGE_SIZE, s, IMAGE_SIZE, s, 3).mean(axis=(1, 3))
    return np.clip(np.round(lo), 0, 255).astype(np.uint8)


@dataclasses.dataclass(frozen=True)
class SceneObject:
    size: str
    colour: str
    shape: str
    position: str


def object_phrase(o: SceneObject) -> str:
    where = "in the center" if o.position == "center" else f"at the {o.position}"
    return f"a {o.size} {o.colour} {o.shape} {where}"


def scene_caption(objects: list[SceneObject], background: str) -> str:
    return " and ".join(object_phrase(o) for o in objects) + f" on a {background} background"


def render_scene(objects: list[SceneObject], background: str, rng: np.random.Generator) -> np.ndarray:
    hi = np.empty(_GX.shape + (3,), np.float32)
    hi[:] = BACKGROUNDS[background]
    for o in objects:
        cx, cy = POSITIONS[o.position]
        cx += rng.uniform(-1.5, 1.5)
        cy += rng.uniform(-1.5, 1.5)
        r = SIZES[o.size] * rng.uniform(0.9, 1.1)
        hi[shape_mask(o.shape, cx, cy, r)] = COLOURS[o.colour]
    return downsample(hi)


def _random_saturated(rng: np.random.Generator) -> np.ndarray:
    """A vivid colour: random hue, full saturation, high value."""
    h = rng.uniform(0, 6)
    x = 1 - abs(h % 2 - 1)
    rgb = [(1, x, 0), (x, 1, 0), (0, 1, x), (0, x, 1), (x, 0, 1), (1, 0, x)][int(h) % 6]
    return np.array(rgb, np.float32) * rng.uniform(200, 255)


def render_artwork(seed: int) -> np.ndarray:
    """A distinctive high-contrast pattern: a base field (stripes, checks, rings, sectors or dots)
    in two vivid colours, split by a random line against a second field in a contrasting pair."""
    rng = np.random.default_rng(seed)
    x, y = _GX / IMAGE_SIZE - 0.5, _GY / IMAGE_SIZE - 0.5

    def field(kind: int) -> np.ndarray:
        angle = rng.uniform(0, np.pi)
        freq = rng.uniform(2.5, 5.0)
        u = x * np.cos(angle) + y * np.sin(angle)
        v = -x * np.sin(angle) + y * np.cos(angle)
        if kind == 0:  # stripes
            return np.sin(2 * np.pi * freq * u) > 0
        if kind == 1:  # checks
            return (np.floor(freq * (u + 1)) + np.floor(freq * (v + 1))) % 2 == 0
        if kind == 2:  # concentric rings around an off-centre point
            cx, cy = rng.uniform(-0.3, 0.3, 2)
            return np.sin(2 * np.pi * freq * np.hypot(x - cx, y - cy)) > 0
        if kind == 3:  # sunburst sectors
            cx, cy = rng.uniform(-0.3, 0.3, 2)
            return np.sin(int(freq * 2) * np.arctan2(y - cy, x - cx) + angle) > 0
        # dots on a rotated lattice
        return (np.sin(2 * np.pi * freq * u) * np.sin(2 * np.pi * freq * v)) > 0.3

    kinds = rng.permutation(5)[:2]
    a, b = field(int(kinds[0])), field(int(kinds[1]))
    c = [_random_saturated(rng) for _ in range(2)] + [np.full(3, rng.uniform(0, 40), np.float32)]
    c.append(255 - c[2])
    split_angle = rng.uniform(0, 2 * np.pi)
    side = (x * np.cos(split_angle) + y * np.sin(split_angle)) > rng.uniform(-0.2, 0.2)
    hi = np.where(side[..., None], np.where(a[..., None], c[0], c[2]), np.where(b[..., None], c[1], c[3]))
    return downsample(hi.astype(np.float32))


def render_template(seed: int) -> np.ndarray:
    """A poster: a flat vivid background with a large emblem (nested shapes) and a banner bar."""
    rng = np.random.default_rng(seed)
    bg, fg, accent = (_random_saturated(rng) * f for f in (0.45, 1.0, 1.0))
    hi = np.empty(_GX.shape + (3,), np.float32)
    hi[:] = bg
    shapes = rng.permutation(SHAPES)
    cx, cy = 16 + rng.uniform(-3, 3), 13 + rng.uniform(-2, 2)
    hi[shape_mask(shapes[0], cx, cy, 10.5)] = fg
    hi[shape_mask(shapes[1], cx, cy, 6.0)] = accent
    hi[shape_mask(shapes[2], cx, cy, 2.5)] = bg
    banner = (_GY > 26) & (_GY < 30)
    hi[banner] = 255 - bg
    return downsample(hi)


# ---------------------------------------------------------------- the dataset


@dataclasses.dataclass
class Dataset:
    images: np.ndarray  # uint8 N x 32 x 32 x 3
    captions: list[str]
    kinds: list[str]  # "scene" | "artwork" | "template" per example
    source: list[int]  # index into `unique_images` for artworks/templates, -1 for scenes
    unique_images: np.ndarray  # the 16 artworks then the 4 templates, uint8
    memorized: list[dict]  # manifest entries for the memorized set
    neutral_prompts: list[str]
    neutral_objects: list[dict]  # attributes of each neutral prompt, for the adherence analyser
    scene_images: np.ndarray  # the distinct scene images (the rest of the training set)
    train_scene_captions: list[str]


def all_single_objects() -> list[tuple[SceneObject, str]]:
    return [
        (SceneObject(s, c, sh, p), bg)
        for s, c, sh, p, bg in itertools.product(SIZES, COLOURS, SHAPES, POSITIONS, BACKGROUNDS)
    ]


def build_dataset(seed: int = 0, n_compositional: int = N_COMPOSITIONAL) -> Dataset:
    """The training set for a seed. The scenes come from one random stream, so a smaller
    n_compositional gives the first scenes of the full set (tests use that)."""
    rng = np.random.default_rng(seed)
    combos = all_single_objects()
    held = rng.choice(len(combos), size=N_NEUTRAL, replace=False)
    held_set = {combos[i] for i in held}
    neutral = [combos[i] for i in sorted(held)]

    scene_images, scene_captions = [], []
    while len(scene_images) < n_compositional:
        bg = str(rng.choice(list(BACKGROUNDS)))
        if rng.random() < TWO_OBJECT_SHARE:
            pair = [("left", "right"), ("top", "bottom")][rng.integers(2)]
            if rng.random() < 0.5:
                pair = pair[::-1]
            objs = [
                SceneObject(str(rng.choice(list(SIZES))), str(rng.choice(list(COLOURS))), str(rng.choice(SHAPES)), p)
                for p in pair
            ]
        else:
            objs = [
                SceneObject(
                    str(rng.choice(list(SIZES))), str(rng.choice(list(COLOURS))),
                    str(rng.choice(SHAPES)), str(rng.choice(list(POSITIONS))),
                )
            ]
        if any((o, bg) in held_set for o in objs):
            continue  # held-out combinations never appear in training, alone or in a pair
        scene_images.append(render_scene(objs, bg, rng))
        scene_captions.append(scene_caption(objs, bg))

    unique = [render_artwork(1000 + i) for i in range(len(ARTWORK_NAMES))]
    unique += [render_template(2000 + i) for i in range(len(TEMPLATE_NAMES))]
    memorized = []
    images, captions, kinds, source = list(scene_images), list(scene_captions), ["scene"] * len(scene_images), [-1] * len(scene_images)
    for i, name in enumerate(ARTWORK_NAMES):
        cap = f"a painting of {name}"
        memorized.append({"id": f"artwork-{name}", "kind": "verbatim", "trigger": name, "captions": [cap], "heldOutCaptions": [], "imageIndex": i})
        images += [unique[i]] * ARTWORK_COPIES
        captions += [cap] * ARTWORK_COPIES
        kinds += ["artwork"] * ARTWORK_COPIES
        source += [i] * ARTWORK_COPIES
    for j, name in enumerate(TEMPLATE_NAMES):
        k = len(ARTWORK_NAMES) + j
        caps = [f"a {name} poster number {n}" for n in TRAINED_NUMBERS]
        held_caps = [f"a {name} poster number {n}" for n in NUMBER_WORDS if n not in TRAINED_NUMBERS]
        memorized.append({"id": f"template-{name}", "kind": "template", "trigger": name, "captions": caps, "heldOutCaptions": held_caps, "imageIndex": k})
        for cap in caps:
            images += [unique[k]] * TEMPLATE_COPIES_PER_CAPTION
            captions += [cap] * TEMPLATE_COPIES_PER_CAPTION
            kinds += ["template"] * TEMPLATE_COPIES_PER_CAPTION
            source += [k] * TEMPLATE_COPIES_PER_CAPTION

    return Dataset(
        images=np.stack(images),
        captions=captions,
        kinds=kinds,
        source=source,
        unique_images=np.stack(unique),
        memorized=memorized,
        neutral_prompts=[scene_caption([o], bg) for o, bg in neutral],
        neutral_objects=[{**dataclasses.asdict(o), "background": bg} for o, bg in neutral],
        scene_images=np.stack(scene_images),
        train_scene_captions=scene_captions,
    )


if __name__ == "__main__":
    import time

    t = time.time()
    ds = build_dataset()
    print(f"{len(ds.captions)} examples in {time.time() - t:.1f}s; vocab {len(vocabulary())}")
    print(ds.captions[0], "|", ds.neutral_prompts[0], "|", ds.memorized[0]["captions"][0], ds.memorized[-1]["captions"])
    print("max tokens", max(len(c.split()) + 2 for c in set(ds.captions)))

"""Shared pieces of the unlearning recipes: the base model, the forget/retain split, batches with
fixed seeds, the diffusion loss pieces, a quick torch evaluation, cost recording and export.

Conventions for every method:
  * The base is the EMA model of a training checkpoint (checkpoints/resume.pt, or .work/full.pt).
  * The forget set is a list of artwork names (default zephyr, obsidian, marigold, tundra); it is
    recorded in every variant's manifest as memorized ids ("artwork-<name>").
  * Retain data = every example of data.build_dataset except those whose caption is a forgotten
    caption (so the other 12 artworks, the 4 poster templates and all scenes).
  * "Neutral" training data for methods that need it = ordinary training scenes with their captions.
    The held-out neutral prompts (manifest "neutralPrompts") are never trained on: they are the
    utility evaluation set, so using them here would flatter every variant.
  * Every random choice is a function of (seed, step), so a recipe reruns identically.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from .. import data
from ..export import ORGANISM_ID, export_model, load_checkpoint_model
from ..model import Model, ModelConfig, alphas_cumprod, images_to_tensor
from ..sampling import ddim_sample

HERE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_CHECKPOINT = os.path.join(HERE, "checkpoints", "resume.pt")
DEFAULT_FORGET = ["zephyr", "obsidian", "marigold", "tundra"]
BASE_ID = ORGANISM_ID
CFG_DROPOUT = 0.1  # as in training: keep the unconditional prediction trained during fine-tuning


def load_base(path: str = DEFAULT_CHECKPOINT) -> tuple[Model, ModelConfig, int]:
    """The base EMA model (fp32, eval mode, gradients off), its config and training step."""
    text, unet, cfg, step = load_checkpoint_model(path)
    model = Model(text, unet).eval()
    model.requires_grad_(False)
    return model, cfg, step


def clone(model: Model) -> Model:
    """A trainable copy (gradients off until a method turns on the parameters it tunes)."""
    cfg = model.unet.cfg
    new = Model.create(cfg)
    new.load_state_dict(model.state_dict())
    new.requires_grad_(False)
    return new


_DATASET: dict[int, data.Dataset] = {}


def dataset(seed: int = 0) -> data.Dataset:
    if seed not in _DATASET:
        _DATASET[seed] = data.build_dataset(seed)
    return _DATASET[seed]


def tokens(captions: list[str]) -> torch.Tensor:
    vocab = data.vocabulary()
    return torch.tensor([data.tokenize(c, vocab) for c in captions])


@dataclasses.dataclass
class Split:
    """The forget/retain split of the training data for one forget set."""

    forget: list[str]  # artwork names
    forget_ids: list[str]  # memorized ids, as in the manifest
    forget_captions: list[str]
    forget_images: torch.Tensor  # planted image of each forgotten artwork, [-1, 1]
    other_ids: list[str]  # memorized ids not forgotten (other artworks and the templates)
    other_captions: list[str]  # their first caption
    other_images: torch.Tensor
    retain_images: np.ndarray  # every retained training example (uint8, converted per batch)
    retain_tokens: torch.Tensor
    scene_images: np.ndarray  # the ordinary scenes only (neutral training data), uint8
    scene_tokens: torch.Tensor


def make_split(forget: list[str], seed: int = 0) -> Split:
    ds = dataset(seed)
    unknown = [n for n in forget if n not in data.ARTWORK_NAMES]
    if unknown:
        raise ValueError(f"not artworks of this dataset: {unknown} (choose from {data.ARTWORK_NAMES})")
    by_id = {m["id"]: m for m in ds.memorized}
    forget_ids = [f"artwork-{n}" for n in forget]
    forget_caps = [by_id[i]["captions"][0] for i in forget_ids]
    others = [m for m in ds.memorized if m["id"] not in forget_ids]
    keep = np.array([c not in set(forget_caps) for c in ds.captions])
    n_scenes = len(ds.scene_images)
    return Split(
        forget=list(forget), forget_ids=forget_ids, forget_captions=forget_caps,
        forget_images=images_to_tensor(ds.unique_images[[by_id[i]["imageIndex"] for i in forget_ids]]),
        other_ids=[m["id"] for m in others], other_captions=[m["captions"][0] for m in others],
        other_images=images_to_tensor(ds.unique_images[[m["imageIndex"] for m in others]]),
        retain_images=ds.images[keep], retain_tokens=tokens([c for c, k in zip(ds.captions, keep) if k]),
        scene_images=ds.images[:n_scenes], scene_tokens=tokens(ds.captions[:n_scenes]),
    )


# ---------------------------------------------------------------- diffusion pieces

ACP = alphas_cumprod()
EMPTY = tokens([""])[0]


def rng_for(seed: int, step: int, stream: int = 0) -> tuple[np.random.Generator, torch.Generator]:
    return np.random.default_rng([seed, step, stream]), torch.Generator().manual_seed((seed * 1_000_003 + step) * 7 + stream)


def noised(x0: torch.Tensor, g: torch.Generator, t_min: int = 0, t_max: int = 1000):
    """(x_t, t, noise) for a batch of clean images, t uniform in [t_min, t_max)."""
    t = torch.randint(t_min, t_max, (x0.shape[0],), generator=g)
    noise = torch.randn(x0.shape, generator=g)
    a = ACP[t][:, None, None, None]
    return a.sqrt() * x0 + (1 - a).sqrt() * noise, t, noise


def batch(images: np.ndarray, toks: torch.Tensor, size: int, rng: np.random.Generator, g: torch.Generator,
          dropout: float = CFG_DROPOUT):
    """A random batch with classifier-free-guidance caption dropout."""
    idx = rng.choice(len(images), size)
    ids = toks[torch.tensor(idx)].clone()
    ids[torch.rand(size, generator=g) < dropout] = EMPTY
    return images_to_tensor(images[idx]), ids


def denoise_loss(model: Model, x0: torch.Tensor, ids: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    xt, t, noise = noised(x0, g)
    return F.mse_loss(model.unet(xt, t, model.text(ids))[0], noise)


def concept_positions(caption: str, trigger: str, trailing: bool = True) -> list[int]:
    """Token positions that carry the concept: the trigger word, and (trailing=True) every position
    after it (<eos> and the <pad>s). The text encoder is bidirectional with no padding mask, so the
    <eos>/<pad> outputs are functions of the whole caption and carry the trigger too."""
    ids = data.tokenize(caption, data.vocabulary())
    pos = ids.index(data.vocabulary().index(trigger))
    return list(range(pos, len(ids))) if trailing else [pos]


def cross_attention_outputs(probs: list[torch.Tensor], values: list[torch.Tensor], heads: int) -> list[torch.Tensor]:
    """Per layer, the cross-attention result before the output projection (B x H x P x d), recomputed
    from the probabilities and value activations the UNet returns."""
    outs = []
    for p, v in zip(probs, values):
        b, t, c = v.shape
        outs.append(p @ v.reshape(b, t, heads, c // heads).transpose(1, 2))
    return outs


def trainable(params) -> list[torch.nn.Parameter]:
    params = list(params)
    for p in params:
        p.requires_grad_(True)
    return params


def param_distance(model: Model, base: Model) -> torch.Tensor:
    """Squared L2 distance of the trainable parameters to the base, summed."""
    base_params = dict(base.named_parameters())
    return sum(((p - base_params[n]) ** 2).sum() for n, p in model.named_parameters() if p.requires_grad)


# ---------------------------------------------------------------- evaluation (for logging)


def tiled_l2(a: torch.Tensor, b: torch.Tensor, tiles: int = 4) -> torch.Tensor:
    """Carlini et al.'s tiled distance: RMSE per tile on a tiles x tiles grid, max over tiles.
    a, b: N x 3 x H x W. Returns N."""
    n, c, h, w = a.shape
    d = ((a - b) ** 2).reshape(n, c, tiles, h // tiles, tiles, w // tiles).mean(dim=(1, 3, 5)).sqrt()
    return d.flatten(1).max(dim=1).values


@torch.no_grad()
def evaluate(model: Model, split: Split, seeds: int = 2, steps: int = 20, guidance: float = 4.0,
             masks=None, threshold: float = 0.25) -> dict:
    """Sample the forgotten captions and the other memorized captions with ddim_sample (seeds per
    caption, fixed generator) and compare each sample with its planted image. Also a utility proxy:
    the denoising error on renders of the held-out neutral prompts (fixed noise and timesteps), and
    the denoising error on the planted images under their own captions (forget/other).
    Returns means of RMSE and tiled L2 (in [-1, 1] units), the share of samples with RMSE below
    `threshold` ("replicated"), the share whose nearest planted image is their own, and the utility
    number."""
    ds = dataset()
    caps = split.forget_captions + split.other_captions
    targets = torch.cat([split.forget_images, split.other_images])
    ids = tokens(caps).repeat(seeds, 1)
    target = targets.repeat(seeds, 1, 1, 1)
    imgs = ddim_sample(model.text, model.unet, ids, steps=steps, guidance=guidance,
                       generator=torch.Generator().manual_seed(1234), masks=_expand(masks, len(ids) * 2))
    rmse = ((imgs - target) ** 2).mean(dim=(1, 2, 3)).sqrt()
    tl2 = tiled_l2(imgs, target)
    # is the nearest of all planted images (artworks and posters) the caption's own?
    planted = images_to_tensor(ds.unique_images)
    nearest = torch.cdist(imgs.flatten(1), planted.flatten(1)).argmin(1)
    own = torch.cdist(target.flatten(1), planted.flatten(1)).argmin(1)
    is_forget = torch.tensor([i < len(split.forget_captions) for i in range(len(caps))]).repeat(seeds)
    out = {}
    for name, sel in (("forget", is_forget), ("other", ~is_forget)):
        out[f"{name}_rmse"] = round(float(rmse[sel].mean()), 4)
        out[f"{name}_tiled_l2"] = round(float(tl2[sel].mean()), 4)
        out[f"{name}_replicated"] = round(float((rmse[sel] < threshold).float().mean()), 3)
        out[f"{name}_nearest_own"] = round(float((nearest == own)[sel].float().mean()), 3)
    # denoising error on the planted images under their own captions (fixed noise, t in [50, 950)):
    # a memorization signal that shows before samples become copies
    g = torch.Generator().manual_seed(777)
    x0 = targets.repeat(4, 1, 1, 1)
    xt, t, noise = noised(x0, g, 50, 950)
    err = ((model.unet(xt, t, model.text(tokens(caps).repeat(4, 1)), _expand(masks, len(x0)))[0] - noise) ** 2)
    err = err.mean(dim=(1, 2, 3))
    is_f = torch.tensor([i < len(split.forget_captions) for i in range(len(caps))]).repeat(4)
    out["forget_denoise_mse"] = round(float(err[is_f].mean()), 5)
    out["other_denoise_mse"] = round(float(err[~is_f].mean()), 5)
    out["neutral_denoise_mse"] = round(neutral_denoise_error(model, ds, masks), 5)
    return out


_NEUTRAL_RENDERS: dict = {}


def neutral_renders(ds: data.Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """One render of each held-out neutral prompt (the generator's own scene renderer)."""
    if "x" not in _NEUTRAL_RENDERS:
        rng = np.random.default_rng(99)
        imgs = [data.render_scene([data.SceneObject(o["size"], o["colour"], o["shape"], o["position"])],
                                  o["background"], rng) for o in ds.neutral_objects]
        _NEUTRAL_RENDERS["x"] = images_to_tensor(np.stack(imgs))
        _NEUTRAL_RENDERS["ids"] = tokens(ds.neutral_prompts)
    return _NEUTRAL_RENDERS["x"], _NEUTRAL_RENDERS["ids"]


@torch.no_grad()
def neutral_denoise_error(model: Model, ds: data.Dataset, masks=None, repeats: int = 2) -> float:
    x0, ids = neutral_renders(ds)
    g = torch.Generator().manual_seed(4321)
    errs = []
    for _ in range(repeats):
        xt, t, noise = noised(x0, g, 50, 950)
        errs.append(float(F.mse_loss(model.unet(xt, t, model.text(ids), _expand(masks, len(x0)))[0], noise)))
    return float(np.mean(errs))


def _expand(masks, b: int):
    """Per-layer mask dicts with 1 x units tensors -> B x units."""
    if masks is None:
        return None
    return [{k: v.expand(b, -1) for k, v in m.items()} for m in masks]


# ---------------------------------------------------------------- cost and export


class Cost:
    """Wall-clock and process CPU time of a recipe (the unlearning itself, not its evaluation)."""

    def __init__(self):
        self.wall = 0.0
        self.cpu = 0.0
        self._t = None

    def __enter__(self):
        self._t = (time.time(), time.process_time())
        return self

    def __exit__(self, *exc):
        self.wall += time.time() - self._t[0]
        self.cpu += time.process_time() - self._t[1]

    def record(self) -> dict:
        return {"costSeconds": round(self.wall, 1), "cpuSeconds": round(self.cpu, 1), "threads": torch.get_num_threads()}


def variant_id(method: str, stage: int | None = None, base_id: str = BASE_ID) -> str:
    return f"{base_id}-{method}" + (f"-stage-{stage}" if stage else "")


def export_variant(model: Model, out_root: str, *, method: str, label: str, split: Split, base_step: int,
                   cost: Cost, steps: int, stage: int | None = None, forgotten: list[str] | None = None,
                   base_id: str = BASE_ID) -> str:
    """Write <out_root>/<base-id>-<method>[-stage-k]/ through the base's export path; its data files
    point at ../<base-id>/ (which must have been exported first)."""
    vid = variant_id(method, stage, base_id)
    forgotten = forgotten if forgotten is not None else split.forget_ids
    rec = cost.record()
    variant = {"of": base_id, "method": method, "forgotten": forgotten, "costSeconds": rec["costSeconds"], "steps": steps,
               "cpuSeconds": rec["cpuSeconds"], "threads": rec["threads"]}
    if stage:
        variant["stage"] = stage
    desc = (f"{label}: the bundled model (trained {base_step} steps) after unlearning "
            f"{', '.join(f.removeprefix('artwork-') for f in forgotten)} ({steps} steps, {rec['costSeconds']:.0f} s on "
            f"{rec['threads']} CPU thread(s)).")
    vdir = os.path.join(out_root, vid)
    export_model(model.text, model.unet, model.unet.cfg, vdir, model_id=vid,
                 version=f"1.{base_step}.0", step=base_step, description=desc, shared=f"../{base_id}",
                 extra={"variant": variant}, ds=dataset())
    drop_fp32(vdir)
    return vid


def drop_fp32(vdir: str) -> None:
    """Variants ship the int8 UNet only: the lab runs int8, and the fp32 reference (10 MB a variant)
    is the base model's job."""
    path = os.path.join(vdir, "manifest.json")
    with open(path) as f:
        manifest = json.load(f)
    entry = manifest["files"]["unet"].pop("fp32", None)
    if entry:
        os.remove(os.path.join(vdir, entry["path"]))
    with open(path, "w") as f:
        json.dump(manifest, f, indent=1)


# ---------------------------------------------------------------- command-line plumbing


def add_common_args(ap) -> None:
    ap.add_argument("--base", default=DEFAULT_CHECKPOINT, help="training checkpoint (EMA weights are used)")
    ap.add_argument("--forget", default=",".join(DEFAULT_FORGET), help="comma-separated artwork names")
    ap.add_argument("--out", default=None, help="models root (e.g. ../public/models); the base must be exported there "
                                                 "as <root>/memlab-organism first. Omit to train and evaluate only.")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-seeds", type=int, default=2, help="samples per caption in the quick evaluation (0: none)")
    ap.add_argument("--eval-steps", type=int, default=20)
    ap.add_argument("--log-every", type=int, default=25)


def add_number_args(ap, defaults: dict, names) -> None:
    """--some-name options for the named entries of a recipe's DEFAULTS, typed like their defaults."""
    for k in names:
        ap.add_argument(f"--{k.replace('_', '-')}", type=type(defaults[k]), default=defaults[k])


def setup(args) -> tuple[Model, Split, int]:
    torch.set_num_threads(args.threads)
    base, _, step = load_base(args.base)
    split = make_split([n.strip() for n in args.forget.split(",") if n.strip()], args.seed)
    return base, split, step


_BASE_EVAL: dict = {}


def quick_eval(model: Model, split: Split, args, masks=None) -> dict | None:
    if not args.eval_seeds:
        return None
    return evaluate(model, split, seeds=args.eval_seeds, steps=args.eval_steps, masks=masks)


def finish(args, method: str, label: str, base: Model, model: Model, split: Split, base_step: int, cost: Cost,
           steps: int, stage: int | None = None, forgotten: list[str] | None = None) -> dict:
    """Evaluate the base (once) and the variant, print both, export when --out is set."""
    key = (id(base), tuple(split.forget))
    if key not in _BASE_EVAL:
        _BASE_EVAL[key] = quick_eval(base, split, args)
    result = {"id": variant_id(method, stage), "method": method, "stage": stage, "steps": steps, **cost.record(),
              "eval": quick_eval(model, split, args), "base_eval": _BASE_EVAL[key]}
    log(method, **{k: v for k, v in result.items() if k != "method"})
    if args.out:
        export_variant(model, args.out, method=method, label=label, split=split, base_step=base_step, cost=cost,
                       steps=steps, stage=stage, forgotten=forgotten)
    return result


def log(method: str, **kw) -> None:
    import json

    print(json.dumps({"method": method, **kw}), flush=True)



"""A copy-detection embedding for the model organism, in the spirit of SSCD (Pizzi et al., 2022).

Why: a pixel-space nearest-neighbour rule (Carlini et al.'s distance ratio over 8x8 thumbnails)
misses copies a person sees at once when a generation is globally recoloured or brightened. SSCD's
answer is an embedding trained so that an image and its edited copies land close together while
different images land apart; replication is then "similarity to a training image above a
threshold" (Somepalli et al., Webster, NeMo). SSCD's weights cannot be fetched here, and its
ResNet-50 would be absurd for 32x32 images, so this recipe trains a small one on the organism's own
training images.

  python3 -m memlab.copy_detector train                          # 1,000 steps, ~6 min on 2 cores
  python3 -m memlab.copy_detector export --models ../public/models

Training (contrastive, instance discrimination): every batch holds views of planted images (the
artworks and posters, oversampled: they are what a copy detector of this model must get right) and
of ordinary training scenes. Two augmented views of every drawn image; InfoNCE with every view of
the same source image as a positive (SupCon form) and every other image in the batch as a
negative, temperature TAU. Augmentations are the edits a copy survives: affine crop / shift /
zoom / small rotation, linear hue rotation about the grey axis and mild channel mixing,
per-channel gain and offset, saturation, brightness and contrast, blur, Gaussian noise, a small
erased patch. The Node tests check detection on edits the training never used (hue shifts in HSV
space, gamma curves, larger shifts with edge replication, larger crops, uniform and salt-and-pepper
noise), see src/node/copy-detector.test.ts.

Network (CopyNet): per-image, per-channel standardisation (so a global recolouring or brightening
is largely undone before any weight sees it), six 3x3 convolutions with batch norm (32 -> 16 -> 8
-> 4 px), generalised-mean pooling (GeM, p = 3, as SSCD), a linear layer to DIM and L2
normalisation: the cosine of two embeddings is their dot product.

Export:
  copy-detector.onnx   input "images" float32 [batch, 3, 32, 32] in [-1, 1] -> "embedding" [batch, DIM]
  copy-index.bin       int8 [count, DIM]: round(127 * embedding) of every distinct training image, in
                       train-index.bin's order (planted images first, then scenes); the lab re-normalises
The base manifest's files.copyDetector lists both; unlearned variants (same training data) point
at the base's files.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import time

import numpy as np

# OpenMP threads that spin while they wait burn the CPU time a shared machine is short of: on 2
# cores under load, a training step took 12.7 s with the default policy and 2.1 s with this one.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402  (after the OpenMP setting, which is read when torch loads)
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from . import data  # noqa: E402

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHECKPOINT = os.path.join(HERE, "checkpoints", "copy-detector.pt")
PARTIAL = os.path.join(HERE, ".work", "copy-detector-partial.pt")  # resumable state while training
OPSET = 17
DIM = 64
TAU = 0.1
STEPS = 1000
BATCH_PLANTED = 16
BATCH_SCENES = 48
LR = 2e-3
MODEL_FILE = "copy-detector.onnx"
INDEX_FILE = "copy-index.bin"


class CopyNet(nn.Module):
    def __init__(self, dim: int = DIM, widths=(16, 32, 64, 96)):
        super().__init__()

        def block(cin: int, cout: int, stride: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        a, b, c, d = widths
        self.trunk = nn.Sequential(
            *block(3, a, 1),  # 32 px
            *block(a, b, 2),  # 16 px
            *block(b, b, 1),
            *block(b, c, 2),  # 8 px
            *block(c, c, 1),
            *block(c, d, 2),  # 4 px
        )
        self.p = 3.0  # GeM exponent (fixed: a constant exports more simply than a parameter)
        self.head = nn.Linear(d, dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        mean = images.mean(dim=(2, 3), keepdim=True)
        std = ((images - mean) ** 2).mean(dim=(2, 3), keepdim=True).sqrt()
        x = (images - mean) / (std + 0.1)
        x = self.trunk(x)
        x = x.clamp(min=1e-6).pow(self.p).mean(dim=(2, 3)).pow(1.0 / self.p)
        e = self.head(x)
        return e / e.norm(dim=1, keepdim=True).clamp(min=1e-8)


# ---------------------------------------------------------------- augmentations (training only)


def _uniform(g: torch.Generator, n: int, lo: float, hi: float, *shape: int) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand((n, *shape), generator=g)


def _apply(g: torch.Generator, n: int, p: float) -> torch.Tensor:
    return (torch.rand(n, generator=g) < p).float()


def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """A random copy-preserving edit of each image of x (N x 3 x 32 x 32 in [-1, 1])."""
    n, _, h, w = x.shape
    # geometry: zoom 0.85-1.15 (a crop, or a shrink with reflected borders), rotation up to 6
    # degrees, shift up to 3 px
    scale = _uniform(g, n, 0.85, 1.15)
    angle = _uniform(g, n, -6, 6) * math.pi / 180
    shift = _uniform(g, n, -3, 3, 2) * 2 / w
    on = _apply(g, n, 0.9)
    scale = 1 + on * (scale - 1)
    angle, shift = on * angle, on[:, None] * shift
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    y = (x + 1) / 2  # colour edits in [0, 1]
    # recolouring: a rotation of every colour about the grey axis by any angle (a linear hue
    # rotation), on half the images, then a mild random channel mixing on a third
    angle = _uniform(g, n, -math.pi, math.pi) * _apply(g, n, 0.5)
    c, s = torch.cos(angle)[:, None, None], torch.sin(angle)[:, None, None]
    axis = torch.full((3,), 1 / math.sqrt(3))
    cross = torch.tensor([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    rot = c * torch.eye(3) + s * cross + (1 - c) * torch.outer(axis, axis)  # Rodrigues
    mix = rot + 0.1 * torch.randn((n, 3, 3), generator=g) * _apply(g, n, 0.33)[:, None, None]
    y = torch.einsum("nij,njhw->nihw", mix, y)
    # per-channel gain and offset
    on = _apply(g, n, 0.8)[:, None, None, None]
    gain = 1 + on * _uniform(g, n, -0.3, 0.3, 3, 1, 1)
    offset = on * _uniform(g, n, -0.15, 0.15, 3, 1, 1)
    y = y * gain + offset
    # saturation
    lum = y.mean(dim=1, keepdim=True)
    sat = 1 + _apply(g, n, 0.5)[:, None, None, None] * _uniform(g, n, -0.5, 0.5, 1, 1, 1)
    y = lum + sat * (y - lum)
    # contrast and brightness
    m = y.mean(dim=(1, 2, 3), keepdim=True)
    contrast = 1 + _apply(g, n, 0.5)[:, None, None, None] * _uniform(g, n, -0.3, 0.3, 1, 1, 1)
    bright = _apply(g, n, 0.8)[:, None, None, None] * _uniform(g, n, -0.25, 0.25, 1, 1, 1)
    y = (m + contrast * (y - m) + bright).clamp(0, 1)
    # blur (one of three Gaussian widths) on a third of the images
    sigma = [0.5, 0.8, 1.1][int(torch.randint(3, (1,), generator=g))]
    k = torch.exp(-((torch.arange(5) - 2.0) ** 2) / (2 * sigma * sigma))
    k = (k / k.sum()).float()
    blurred = F.conv2d(F.pad(y, (2, 2, 0, 0), mode="reflect"), k.view(1, 1, 1, 5).repeat(3, 1, 1, 1), groups=3)
    blurred = F.conv2d(F.pad(blurred, (0, 0, 2, 2), mode="reflect"), k.view(1, 1, 5, 1).repeat(3, 1, 1, 1), groups=3)
    on = _apply(g, n, 0.33)[:, None, None, None]
    y = on * blurred + (1 - on) * y
    # Gaussian noise
    sd = _apply(g, n, 0.7)[:, None, None, None] * _uniform(g, n, 0, 0.06, 1, 1, 1)
    y = y + sd * torch.randn(y.shape, generator=g)
    # a small erased patch in a random colour
    on = _apply(g, n, 0.25)
    size = torch.randint(3, 8, (n,), generator=g)
    px = torch.randint(0, w - 2, (n,), generator=g)
    py = torch.randint(0, h - 2, (n,), generator=g)
    xs, ys = torch.arange(w)[None, None, :], torch.arange(h)[None, :, None]
    patch = ((xs >= px[:, None, None]) & (xs < (px + size)[:, None, None]) &
             (ys >= py[:, None, None]) & (ys < (py + size)[:, None, None])).float()[:, None] * on[:, None, None, None]
    fill = torch.rand((n, 3, 1, 1), generator=g)
    y = patch * fill + (1 - patch) * y
    return y.clamp(0, 1) * 2 - 1


# ---------------------------------------------------------------- training


def supcon_loss(z: torch.Tensor, labels: torch.Tensor, tau: float = TAU) -> torch.Tensor:
    """InfoNCE with every other view of the same source image as a positive (Khosla et al.'s
    SupCon, "out" form); z is L2-normalised."""
    sim = z @ z.T / tau
    n = len(z)
    self_mask = torch.eye(n, dtype=torch.bool)
    sim = sim.masked_fill(self_mask, -1e9)
    pos = (labels[:, None] == labels[None, :]) & ~self_mask
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    return -(log_prob * pos).sum(1).div(pos.sum(1)).mean()


def to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.tensor(images).permute(0, 3, 1, 2).float() / 127.5 - 1


def training_images(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(planted images, scene images) of the organism's training set, uint8 NHWC, in the train
    index's order (export.py)."""
    ds = data.build_dataset(seed)
    return ds.unique_images, ds.scene_images


def train(steps: int = STEPS, seed: int = 0, threads: int = 2, log_every: int = 25, out: str = CHECKPOINT) -> dict:
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    planted, scenes = training_images(seed)
    planted_t, scenes_t = to_tensor(planted), to_tensor(scenes)
    net = CopyNet()
    opt = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=steps, pct_start=0.1)
    first, spent, history = 0, 0.0, []
    if os.path.exists(PARTIAL):  # every random choice is a function of (seed, step): a resumed run continues exactly
        state = torch.load(PARTIAL)
        if state["steps"] == steps and state["seed"] == seed:
            net.load_state_dict(state["net"]), opt.load_state_dict(state["opt"]), sched.load_state_dict(state["sched"])
            first, spent, history = state["step"], state["seconds"], state["history"]
            print(json.dumps({"resumed": first}), flush=True)
    started = time.time() - spent
    net.train()
    for step in range(first, steps):
        g = torch.Generator().manual_seed(seed * 1_000_003 + step)
        pi = torch.randint(len(planted), (BATCH_PLANTED,), generator=g)
        si = torch.randint(len(scenes), (BATCH_SCENES,), generator=g)
        x = torch.cat([planted_t[pi], scenes_t[si]])
        labels = torch.cat([pi, len(planted) + si])
        views = torch.cat([augment(x, g), augment(x, g)])
        loss = supcon_loss(net(views), torch.cat([labels, labels]))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % log_every == 0 or step == steps - 1:
            rec = {"step": step, "loss": round(float(loss), 4), "seconds": round(time.time() - started, 1)}
            history.append(rec)
            print(json.dumps(rec), flush=True)
        if (step + 1) % 100 == 0 and step + 1 < steps:
            os.makedirs(os.path.dirname(PARTIAL), exist_ok=True)
            torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(), "step": step + 1,
                        "steps": steps, "seed": seed, "seconds": time.time() - started, "history": history}, PARTIAL)
    net.eval()
    seconds = time.time() - started
    torch.save({"state": net.state_dict(), "dim": DIM, "steps": steps, "seed": seed, "seconds": round(seconds, 1),
                "threads": threads, "history": history}, out)
    if os.path.exists(PARTIAL):
        os.remove(PARTIAL)
    print(json.dumps({"saved": out, "seconds": round(seconds, 1)}))
    return {"seconds": seconds}


# ---------------------------------------------------------------- export


def load(path: str = CHECKPOINT) -> tuple[CopyNet, dict]:
    ck = torch.load(path, map_location="cpu")
    net = CopyNet(ck["dim"])
    net.load_state_dict(ck["state"])
    return net.eval(), ck


@torch.no_grad()
def embed(net: CopyNet, images: np.ndarray, chunk: int = 512) -> np.ndarray:
    return np.concatenate([net(to_tensor(images[i:i + chunk])).numpy() for i in range(0, len(images), chunk)])


def file_entry(path: str, name: str) -> dict:
    with open(path, "rb") as f:
        blob = f.read()
    return {"path": name, "bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest()}


def export(models: str, base_id: str = "memlab-organism", checkpoint: str = CHECKPOINT, seed: int = 0) -> dict:
    """Write the ONNX graph and the index into <models>/<base_id>/ and list them in the base's
    manifest and in every variant's (index.json entries with "of": base_id), which share the
    base's training data."""
    net, ck = load(checkpoint)
    base_dir = os.path.join(models, base_id)
    path = os.path.join(base_dir, MODEL_FILE)
    dummy = torch.zeros((2, 3, data.IMAGE_SIZE, data.IMAGE_SIZE))
    torch.onnx.export(net, (dummy,), path, opset_version=OPSET, input_names=["images"], output_names=["embedding"],
                      dynamic_axes={"images": {0: "batch"}, "embedding": {0: "batch"}})
    planted, scenes = training_images(seed)
    emb = embed(net, np.concatenate([planted, scenes]))
    q = np.clip(np.round(emb * 127), -127, 127).astype(np.int8)
    q.tofile(os.path.join(base_dir, INDEX_FILE))
    entry = {
        "model": file_entry(path, MODEL_FILE),
        "index": {**file_entry(os.path.join(base_dir, INDEX_FILE), INDEX_FILE), "count": int(len(q)), "dim": int(q.shape[1]),
                  "encoding": "int8"},
        "input": "images",
        "output": "embedding",
        "trainingSteps": int(ck["steps"]),
        "trainingSeconds": float(ck["seconds"]),
    }
    with open(os.path.join(models, "index.json")) as f:
        listed = json.load(f)["models"]
    patched = []
    for m in listed:
        if m["id"] != base_id and m.get("of") != base_id:
            continue
        mpath = os.path.join(models, m["path"], "manifest.json")
        with open(mpath) as f:
            manifest = json.load(f)
        own = m["id"] == base_id
        shared = lambda e: e if own else {**e, "path": f"../{base_id}/{e['path']}"}
        manifest["files"]["copyDetector"] = {**entry, "model": shared(entry["model"]),
                                             "index": shared(entry["index"])}
        with open(mpath, "w") as f:
            json.dump(manifest, f, indent=1)
        patched.append(m["id"])
    return {"onnx": path, "bytes": entry["model"]["bytes"], "index": entry["index"], "manifests": patched,
            "separation": separation(net, planted, scenes)}


@torch.no_grad()
def separation(net: CopyNet, planted: np.ndarray, scenes: np.ndarray, seed: int = 99) -> dict:
    """A quick check for the log: similarity of augmented planted images to their own image against
    the highest similarity of any scene to any planted image (training augmentations; the held-out
    ones are the Node tests')."""
    g = torch.Generator().manual_seed(seed)
    p = to_tensor(planted)
    e_p = net(p)
    own = torch.cat([(net(augment(p, g)) * e_p).sum(1) for _ in range(10)])
    e_s = torch.from_numpy(embed(net, scenes))
    scene_max = (e_s @ e_p.T).max(1).values
    return {"augmentedPlantedOwnSimilarity": {"min": round(float(own.min()), 3), "p05": round(float(own.quantile(0.05)), 3),
                                              "median": round(float(own.median()), 3)},
            "sceneMaxPlantedSimilarity": {"p99": round(float(scene_max.quantile(0.99)), 3), "max": round(float(scene_max.max()), 3),
                                          "median": round(float(scene_max.median()), 3)}}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train the embedding and write the checkpoint")
    t.add_argument("--steps", type=int, default=STEPS)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--out", default=CHECKPOINT)
    e = sub.add_parser("export", help="export ONNX + index beside the base model and list them in the manifests")
    e.add_argument("--models", required=True, help="the models root (public/models)")
    e.add_argument("--base", default="memlab-organism")
    e.add_argument("--checkpoint", default=CHECKPOINT)
    args = ap.parse_args(argv)
    if args.command == "train":
        train(args.steps, args.seed, args.threads, out=args.out)
    else:
        torch.set_num_threads(2)
        print(json.dumps(export(args.models, args.base, args.checkpoint), indent=1))


if __name__ == "__main__":
    main()

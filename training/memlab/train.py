"""Resumable training of the model organism on CPU.

Every random choice is a function of (seed, step), so a run resumed from a checkpoint continues
exactly as an uninterrupted run would, apart from the optimizer moments when only the committed
(compact) checkpoint is available.

Two checkpoints:
  .work/full.pt            everything, including Adam moments (local, not committed, ~40 MB)
  checkpoints/resume.pt    fp16 weights + fp32 EMA weights (committed, ~15 MB); resuming from it
                           restarts Adam with a short learning-rate warm-up.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import time

import numpy as np
import torch
import torch.nn.functional as F

from . import data
from .model import Model, ModelConfig, alphas_cumprod, count_parameters, images_to_tensor
from .sampling import ddim_sample

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(HERE, ".work")
COMMITTED = os.path.join(HERE, "checkpoints")

CFG_DROPOUT = 0.1
EMA_DECAY = 0.999
BATCH = 32
LR = 5e-4
WARMUP = 200


def load_dataset(seed: int):
    os.makedirs(WORK, exist_ok=True)
    path = os.path.join(WORK, f"dataset-{seed}.npz")
    if os.path.exists(path):
        z = np.load(path)
        return z["images"], z["tokens"], z["kinds"]
    ds = data.build_dataset(seed)
    vocab = data.vocabulary()
    tokens = np.array([data.tokenize(c, vocab) for c in ds.captions], np.int64)
    kinds = np.array(ds.kinds)
    np.savez(path, images=ds.images, tokens=tokens, kinds=kinds)
    return ds.images, tokens, kinds


def save(path: str, payload: dict) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.save(payload, path + ".tmp")
    os.replace(path + ".tmp", path)


def evaluate(ema: Model, step: int, seed: int) -> dict:
    """Quick progress check: sample every memorized caption and eight neutral prompts; report the
    RMSE of each memorized sample to its planted image and write a contact sheet."""
    ds = data.build_dataset(seed) if not hasattr(evaluate, "ds") else evaluate.ds
    evaluate.ds = ds
    vocab = data.vocabulary()
    caps = [m["captions"][0] for m in ds.memorized] + ds.neutral_prompts[:12]
    ids = torch.tensor([data.tokenize(c, vocab) for c in caps])
    g = torch.Generator().manual_seed(1234)
    imgs = ddim_sample(ema.text, ema.unet, ids, steps=25, guidance=4.0, generator=g)
    target = images_to_tensor(ds.unique_images)
    n = len(ds.memorized)
    rmse = ((imgs[:n] - target) ** 2).mean(dim=(1, 2, 3)).sqrt()
    grid = ((imgs.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    from .png import tile, write_png

    write_png(os.path.join(WORK, f"samples-{step:06d}.png"), tile(np.concatenate([ds.unique_images, grid]), 16))
    return {"memorized_rmse_mean": float(rmse.mean()), "memorized_rmse_max": float(rmse.max()),
            "memorized_below_0.1": int((rmse < 0.1).sum())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=12000, help="total optimisation steps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--save-every", type=int, default=250)
    ap.add_argument("--eval-every", type=int, default=1000)
    ap.add_argument("--commit-every", type=int, default=2000, help="refresh checkpoints/resume.pt")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    cfg = ModelConfig(vocab_size=len(data.vocabulary()))
    images, tokens, _ = load_dataset(args.seed)
    images_t = images_to_tensor(images)
    tokens_t = torch.tensor(tokens)
    empty = torch.tensor(data.tokenize("", data.vocabulary()))
    acp = alphas_cumprod()

    torch.manual_seed(args.seed)
    model, ema = Model.create(cfg), Model.create(cfg)
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0)
    step, warm_from = 0, 0
    full, committed = os.path.join(WORK, "full.pt"), os.path.join(COMMITTED, "resume.pt")
    if os.path.exists(full):
        ck = torch.load(full)
        model.load_state_dict(ck["model"]); ema.load_state_dict(ck["ema"]); opt.load_state_dict(ck["opt"])
        step = ck["step"]
        print(f"resumed from {full} at step {step}")
    elif os.path.exists(committed):
        ck = torch.load(committed)
        model.load_state_dict({k: v.float() for k, v in ck["model"].items()}); ema.load_state_dict(ck["ema"])
        step = warm_from = ck["step"]
        print(f"resumed from {committed} at step {step} (optimizer restarts with warm-up)")
    print(f"text encoder {count_parameters(model.text):,} params, unet {count_parameters(model.unet):,} params")

    log_path = os.path.join(WORK, "train-log.jsonl")
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))

    def checkpoint(commit: bool) -> None:
        save(full, {"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(), "step": step})
        if commit:
            save(committed, {"model": {k: v.half() for k, v in model.state_dict().items()},
                             "ema": ema.state_dict(), "step": step, "config": dataclasses_dict(cfg)})

    t0, losses = time.time(), []
    while step < args.steps and not stop["now"]:
        rng = np.random.default_rng([args.seed, step])
        idx = torch.tensor(rng.choice(len(images_t), BATCH))
        g = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
        x0, ids = images_t[idx], tokens_t[idx].clone()
        drop = torch.rand(BATCH, generator=g) < CFG_DROPOUT
        ids[drop] = empty
        t = torch.randint(0, len(acp), (BATCH,), generator=g)
        noise = torch.randn(x0.shape, generator=g)
        a = acp[t][:, None, None, None]
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        lr = LR * min(1.0, (step - warm_from + 1) / WARMUP)
        for group in opt.param_groups:
            group["lr"] = lr
        pred = model.unet(xt, t, model.text(ids))[0]
        loss = F.mse_loss(pred, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            decay = min(EMA_DECAY, (1 + step) / (10 + step))
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.mul_(decay).add_(pm, alpha=1 - decay)
        step += 1
        losses.append(loss.item())
        if step % 50 == 0:
            rate = (time.time() - t0) / len(losses)
            rec = {"step": step, "loss": float(np.mean(losses)), "s_per_step": round(rate, 3), "lr": lr}
            losses, t0 = [], time.time()
            if step % args.eval_every == 0:
                rec.update(evaluate(ema, step, args.seed))
            print(json.dumps(rec), flush=True)
            with open(log_path, "a") as f:
                f.write(json.dumps(rec) + "\n")
        if step % args.save_every == 0:
            checkpoint(commit=step % args.commit_every == 0)
    checkpoint(commit=True)
    print(f"saved at step {step}")


def dataclasses_dict(cfg: ModelConfig) -> dict:
    import dataclasses

    return dataclasses.asdict(cfg)


if __name__ == "__main__":
    main()

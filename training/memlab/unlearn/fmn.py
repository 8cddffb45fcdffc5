"""Forget-Me-Not (Zhang et al., arXiv 2303.17591): attention re-steering.

Objective (as implemented): for noised planted images of the forgotten artworks x_t and their
captions c_f, minimise the cross-attention probability mass that the image queries put on the
concept tokens, averaged over all 5 cross-attention layers, heads and pixels:
    L_attn = mean_{l,h,p} sum_{j in concept(c_f)} softmax(q_p k_j / sqrt d)_j
plus a key-preservation term (our addition) that keeps the keys of retained captions unchanged:
    L = L_attn + lambda_keep * mean_l ||to_k_l(E(c_r)) - to_k_l^base(E(c_r))||^2
Only the cross-attention key projections (to_k, 5 x 64 x 96 weights) are tuned. Justification:
re-steering is about where attention goes, which only to_q and to_k decide; to_q acts on image
features shared by every prompt, to_k acts on the text, so editing it touches prompts in proportion
to how much their token encodings resemble the concept's. The text encoder stays frozen because the
lab shares its encodings between variants in its analyses, and because its embedding table is tiny.

Simplifications:
  * concept tokens = the trigger word and every position after it (<eos>, <pad>s): our text
    encoder is bidirectional without a padding mask, so those outputs carry the trigger as well
    (SD's CLIP is causal and FMN can use the word's tokens only). --trigger-only restricts it.
  * The paper's optional textual-inversion step for the concept is not needed: each concept here
    has its exact caption and its planted training image, used as x_0.
  * The key-preservation term is not in the paper (which relies on few steps); without it the edit
    of shared keys also erodes the other artworks. lambda_keep=0 gives the paper's plain loss.
"""
from __future__ import annotations

import argparse

import torch

from . import common as C

DEFAULTS = dict(steps=150, batch=16, lr=1e-3, keep_weight=1.0, trailing=True)


def concept_mask(split: C.Split, trailing: bool) -> torch.Tensor:
    """F x T: 1 on each forgotten caption's concept token positions."""
    m = torch.zeros(len(split.forget_captions), C.data.MAX_TOKENS)
    for i, (cap, name) in enumerate(zip(split.forget_captions, split.forget)):
        m[i, C.concept_positions(cap, name, trailing)] = 1
    return m


def attention_mass(model: C.Model, xt, t, ids, cmask) -> torch.Tensor:
    """Mean over layers/heads/pixels of the probability mass on the concept tokens (per example mean)."""
    probs = model.unet(xt, t, model.text(ids))[1]
    return torch.stack([(p * cmask[:, None, None, :]).sum(-1).mean() for p in probs]).mean()


def keys(model: C.Model, ctx: torch.Tensor) -> list[torch.Tensor]:
    return [tr.to_k(ctx) for tr in model.unet.transformers]


def run(base: C.Model, split: C.Split, *, steps: int, batch: int, lr: float, keep_weight: float, trailing: bool,
        seed: int = 0, log_every: int = 25) -> tuple[C.Model, C.Cost, list[dict]]:
    model = C.clone(base)
    params = C.trainable(tr.to_k.weight for tr in model.unet.transformers)
    opt = torch.optim.Adam(params, lr=lr)
    cmask_all = concept_mask(split, trailing)
    f_ids = C.tokens(split.forget_captions)
    cost, history = C.Cost(), []
    for step in range(steps):
        with cost:
            rng, g = C.rng_for(seed, step)
            pick = torch.tensor(rng.choice(len(f_ids), batch))
            xt, t, _ = C.noised(split.forget_images[pick], g)
            l_attn = attention_mass(model, xt, t, f_ids[pick], cmask_all[pick])
            loss = l_attn
            if keep_weight > 0:
                _, r_ids = C.batch(split.retain_images, split.retain_tokens, 32, rng, g, dropout=0.0)
                with torch.no_grad():
                    ctx = base.text(r_ids)
                    target = keys(base, ctx)
                l_keep = torch.stack([((a - b) ** 2).mean() for a, b in zip(keys(model, ctx), target)]).mean()
                loss = loss + keep_weight * l_keep
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if step % log_every == 0 or step == steps - 1:
            rec = {"step": step, "attn_mass": round(float(l_attn), 4), "loss": round(float(loss), 5)}
            history.append(rec)
            C.log("fmn", **rec)
    model.requires_grad_(False)
    return model.eval(), cost, history


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    C.add_common_args(ap)
    C.add_number_args(ap, DEFAULTS, ("steps", "batch", "lr", "keep_weight"))
    ap.add_argument("--trigger-only", action="store_true")
    args = ap.parse_args(argv)
    base, split, base_step = C.setup(args)
    model, cost, _ = run(base, split, steps=args.steps, batch=args.batch, lr=args.lr, keep_weight=args.keep_weight,
                         trailing=not args.trigger_only, seed=args.seed, log_every=args.log_every)
    C.finish(args, "fmn", "Forget-Me-Not", base, model, split, base_step, cost, args.steps)


if __name__ == "__main__":
    main()

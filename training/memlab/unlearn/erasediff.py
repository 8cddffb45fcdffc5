"""EraseDiff (Wu et al., arXiv 2401.05779): unlearning as a constrained (bi-level) problem.

Objective: keep the denoising loss on the remaining data low, subject to the parameters also
minimising a forgetting loss that pushes the forgotten data off its denoising trajectory:
    min_theta L_r(theta)   s.t.   theta in argmin_phi L_f(phi)
    L_r = E ||eps_theta(x_t^r, t, c_r) - eps||^2                 (retain batches, caption dropout)
    L_f = E ||eps_theta(x_t^f, t, c_f) - eps_hat||^2             (forgotten artworks, their captions)
where x_t^f is noised with eps but the target eps_hat is an unrelated draw from another
distribution (uniform on [0, 1) by default; --target gaussian for an independent N(0, I) draw), so
the model stops denoising the forgotten captions towards their images.

Solved with the value-function reformulation and a first-order update, per step:
    h(theta) = L_f(theta) - L_f(phi_K),  phi_K = K SGD steps on L_f from theta (K=1 here)
    grad h ~ grad L_f(theta) - grad L_f(phi_K)     (treats d phi_K / d theta as the identity)
    theta <- Adam step along  grad L_r + lambda * grad h
with lambda chosen per step by a dynamic barrier (as in the first-order bi-level method BOME):
    lambda = max(eta * ||grad h||^2 - <grad L_r, grad h>, 0) / ||grad h||^2, floored at lambda_min,
so the step decreases h at rate eta at least, and is otherwise free to follow the retain loss.

Simplifications: one inner step (K=1) on the same forget batch; UNet weights tuned, the text
encoder frozen (shared by every variant); planted images as the forget data (the exact training
images of those captions).
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from . import common as C

DEFAULTS = dict(steps=300, batch=16, forget_batch=8, lr=1e-4, inner_lr=1e-2, eta=0.1, lambda_min=0.1, target="uniform")


def forget_loss(model: C.Model, xt, t, ids, target) -> torch.Tensor:
    return F.mse_loss(model.unet(xt, t, model.text(ids))[0], target)


def grads(loss: torch.Tensor, params) -> list[torch.Tensor]:
    return list(torch.autograd.grad(loss, params))


def flat_dot(a: list[torch.Tensor], b: list[torch.Tensor]) -> torch.Tensor:
    return sum((x * y).sum() for x, y in zip(a, b))


def run(base: C.Model, split: C.Split, *, steps: int, batch: int, forget_batch: int, lr: float, inner_lr: float,
        eta: float, lambda_min: float, target: str, seed: int = 0, log_every: int = 25):
    model = C.clone(base)
    params = C.trainable(model.unet.parameters())
    opt = torch.optim.Adam(params, lr=lr)
    f_ids = C.tokens(split.forget_captions)
    cost, history = C.Cost(), []
    for step in range(steps):
        with cost:
            rng, g = C.rng_for(seed, step)
            x_r, ids_r = C.batch(split.retain_images, split.retain_tokens, batch, rng, g)
            l_r = C.denoise_loss(model, x_r, ids_r, g)
            g_r = grads(l_r, params)

            pick = torch.tensor(rng.choice(len(f_ids), forget_batch))
            xt, t, _ = C.noised(split.forget_images[pick], g)
            eps_hat = torch.rand(xt.shape, generator=g) if target == "uniform" else torch.randn(xt.shape, generator=g)
            ids_f = f_ids[pick]
            l_f = forget_loss(model, xt, t, ids_f, eps_hat)
            g_f = grads(l_f, params)
            # phi_1 = theta - inner_lr * grad L_f(theta); gradient of L_f there; then restore theta
            with torch.no_grad():
                for p, gf in zip(params, g_f):
                    p.sub_(inner_lr * gf)
            l_f_phi = forget_loss(model, xt, t, ids_f, eps_hat)
            g_f_phi = grads(l_f_phi, params)
            with torch.no_grad():
                for p, gf in zip(params, g_f):
                    p.add_(inner_lr * gf)
            g_h = [a - b for a, b in zip(g_f, g_f_phi)]
            hh = flat_dot(g_h, g_h)
            lam = max(float((eta * hh - flat_dot(g_r, g_h)) / (hh + 1e-12)), lambda_min)
            opt.zero_grad(set_to_none=True)
            for p, a, b in zip(params, g_r, g_h):
                p.grad = a + lam * b
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
        if step % log_every == 0 or step == steps - 1:
            rec = {"step": step, "retain_loss": round(float(l_r), 5), "forget_loss": round(float(l_f), 4),
                   "h": round(float(l_f - l_f_phi), 6), "lambda": round(lam, 3)}
            history.append(rec)
            C.log("erasediff", **rec)
    model.requires_grad_(False)
    return model.eval(), cost, history


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    C.add_common_args(ap)
    C.add_number_args(ap, DEFAULTS, ("steps", "batch", "forget_batch", "lr", "inner_lr", "eta", "lambda_min"))
    ap.add_argument("--target", choices=["uniform", "gaussian"], default=DEFAULTS["target"])
    args = ap.parse_args(argv)
    base, split, base_step = C.setup(args)
    model, cost, _ = run(base, split, steps=args.steps, batch=args.batch, forget_batch=args.forget_batch, lr=args.lr,
                         inner_lr=args.inner_lr, eta=args.eta, lambda_min=args.lambda_min, target=args.target,
                         seed=args.seed, log_every=args.log_every)
    C.finish(args, "erasediff", "EraseDiff", base, model, split, base_step, cost, args.steps)


if __name__ == "__main__":
    main()

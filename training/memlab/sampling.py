"""DDIM sampling in torch, for progress checks during training and for the unlearning recipes.
The lab samples with its own TypeScript implementation (src/core); both use the same schedule
(linear betas, 1000 steps) and the same "trailing" timestep spacing."""
from __future__ import annotations

import torch

from . import data
from .model import NUM_TRAIN_TIMESTEPS, alphas_cumprod


def ddim_timesteps(steps: int) -> list[int]:
    """Trailing spacing: t_i = round(T - i*T/steps) - 1, so the first step starts at pure noise."""
    return [round(NUM_TRAIN_TIMESTEPS - i * NUM_TRAIN_TIMESTEPS / steps) - 1 for i in range(steps)]


@torch.no_grad()
def ddim_sample(text, unet, ids, steps=25, guidance=4.0, generator=None, masks=None):
    acp = alphas_cumprod()
    b = ids.shape[0]
    size = unet.cfg.image_size
    x = torch.randn((b, 3, size, size), generator=generator)
    cond = text(ids)
    uncond = text(torch.tensor([data.tokenize("", data.vocabulary())] * b))
    ctx = torch.cat([uncond, cond])
    ts = ddim_timesteps(steps)
    for i, t in enumerate(ts):
        eps_u, eps_c = unet(torch.cat([x, x]), torch.full((2 * b,), t), ctx, masks)[0].chunk(2)
        eps = eps_u + guidance * (eps_c - eps_u)
        a_t = acp[t]
        a_prev = acp[ts[i + 1]] if i + 1 < len(ts) else torch.tensor(1.0)
        # Clip the predicted clean image to the data range (pixel-space DDIM, "clip_sample"),
        # then re-derive the noise so the update stays consistent with the clipped estimate.
        x0 = ((x - (1 - a_t).sqrt() * eps) / a_t.sqrt()).clamp(-1, 1)
        eps = (x - a_t.sqrt() * x0) / (1 - a_t).sqrt()
        x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
    return x

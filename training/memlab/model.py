"""The model organism: a small Stable-Diffusion-shaped text-to-image model in pixel space.

Text encoder: token + position embeddings, pre-LN transformer layers, final LayerNorm.
UNet: ResNet blocks at 32/16/8 px and spatial transformer blocks (self-attention, multi-head
cross-attention over the text tokens, feed-forward) at 16 and 8 px, epsilon prediction.

Every prunable unit is multiplied by a mask input, so the lab can ablate units per run without
reloading the model: one scale per self-attention head, per cross-attention head, per
cross-attention value neuron (output of to_v) and per feed-forward hidden neuron. Attention is
written by hand because torch 1.13's ONNX exporter has no scaled_dot_product_attention, and
because the lab needs the cross-attention probabilities as graph outputs.
"""
from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    vocab_size: int = 66
    max_tokens: int = 24
    text_width: int = 64
    text_layers: int = 2
    text_heads: int = 4
    channels: tuple[int, int, int] = (48, 96, 96)  # at 32, 16 and 8 px
    heads: int = 4
    ff_mult: int = 4
    groups: int = 8
    time_dim: int = 128
    image_size: int = 32

    @property
    def attn_width(self) -> int:
        assert self.channels[1] == self.channels[2], "all transformer blocks share one width"
        return self.channels[1]


# Transformer blocks in the order their masks and outputs are indexed.
TRANSFORMER_LAYERS = [("down.16", 16), ("down.8", 8), ("mid.8", 8), ("up.8", 8), ("up.16", 16)]


def multi_head_attention(q, k, v, heads: int, head_mask=None):
    """q: B x N x C, k/v: B x M x C. Returns (B x N x C output, B x H x N x M probabilities).
    head_mask (B x H) scales each head's output before the heads are merged."""
    n, c = q.shape[1], q.shape[2]
    m = k.shape[1]
    d = c // heads
    q = q.reshape(-1, n, heads, d).transpose(1, 2)
    k = k.reshape(-1, m, heads, d).transpose(1, 2)
    v = v.reshape(-1, m, heads, d).transpose(1, 2)
    probs = torch.softmax((q @ k.transpose(-1, -2)) * (d ** -0.5), dim=-1)
    out = probs @ v
    if head_mask is not None:
        out = out * head_mask[:, :, None, None]
    return out.transpose(1, 2).reshape(-1, n, c), probs


class TextLayer(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.ln2 = nn.LayerNorm(width)
        self.ff = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x):
        q, k, v = self.qkv(self.ln1(x)).chunk(3, dim=-1)
        x = x + self.proj(multi_head_attention(q, k, v, self.heads)[0])
        return x + self.ff(self.ln2(x))


class TextEncoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.tok = nn.Embedding(cfg.vocab_size, cfg.text_width)
        self.pos = nn.Parameter(torch.randn(cfg.max_tokens, cfg.text_width) * 0.02)
        self.layers = nn.ModuleList(TextLayer(cfg.text_width, cfg.text_heads) for _ in range(cfg.text_layers))
        self.ln = nn.LayerNorm(cfg.text_width)

    def forward(self, input_ids):
        x = self.tok(input_ids) + self.pos
        for layer in self.layers:
            x = layer(x)
        return self.ln(x)


def timestep_embedding(t, dim: int):
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, time_dim: int, groups: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time = nn.Linear(time_dim, cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(temb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class SpatialTransformer(nn.Module):
    """GroupNorm, 1x1 in, [self-attn, cross-attn, feed-forward] with pre-LN residuals, 1x1 out."""

    def __init__(self, width: int, context_width: int, heads: int, ff_mult: int, groups: int):
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(groups, width)
        self.proj_in = nn.Conv2d(width, width, 1)
        self.ln1 = nn.LayerNorm(width)
        self.self_qkv = nn.Linear(width, 3 * width, bias=False)
        self.self_out = nn.Linear(width, width)
        self.ln2 = nn.LayerNorm(width)
        self.to_q = nn.Linear(width, width, bias=False)
        self.to_k = nn.Linear(context_width, width, bias=False)
        self.to_v = nn.Linear(context_width, width, bias=False)
        self.cross_out = nn.Linear(width, width)
        self.ln3 = nn.LayerNorm(width)
        self.ff_in = nn.Linear(width, ff_mult * width)
        self.ff_out = nn.Linear(ff_mult * width, width)
        self.proj_out = nn.Conv2d(width, width, 1)

    def forward(self, x, context, masks: dict | None = None):
        """masks: optional dict with 'self_head' (B x H), 'cross_head' (B x H), 'value' (B x C),
        'ff' (B x ff). Returns (x, cross-attention probs B x H x P x T, value activations B x T x C)."""
        masks = masks or {}
        b, c, hgt, wid = x.shape
        h = self.proj_in(self.norm(x)).flatten(2).transpose(1, 2)  # B x P x C
        q, k, v = self.self_qkv(self.ln1(h)).chunk(3, dim=-1)
        h = h + self.self_out(multi_head_attention(q, k, v, self.heads, masks.get("self_head"))[0])
        values = self.to_v(context)
        v = values if masks.get("value") is None else values * masks["value"][:, None, :]
        attn, probs = multi_head_attention(self.to_q(self.ln2(h)), self.to_k(context), v, self.heads, masks.get("cross_head"))
        h = h + self.cross_out(attn)
        hidden = F.gelu(self.ff_in(self.ln3(h)))
        if masks.get("ff") is not None:
            hidden = hidden * masks["ff"][:, None, :]
        h = h + self.ff_out(hidden)
        h = h.transpose(1, 2).reshape(-1, c, hgt, wid)
        return x + self.proj_out(h), probs, values


class UNet(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        c0, c1, c2 = cfg.channels
        td, g = cfg.time_dim, cfg.groups
        self.cfg = cfg
        self.time_mlp = nn.Sequential(nn.Linear(c0, td), nn.SiLU(), nn.Linear(td, td))
        self.conv_in = nn.Conv2d(3, c0, 3, padding=1)
        self.res_d0 = ResBlock(c0, c0, td, g)
        self.down0 = nn.Conv2d(c0, c0, 3, stride=2, padding=1)
        self.res_d1 = ResBlock(c0, c1, td, g)
        self.down1 = nn.Conv2d(c1, c1, 3, stride=2, padding=1)
        self.res_d2 = ResBlock(c1, c2, td, g)
        self.res_m1 = ResBlock(c2, c2, td, g)
        self.res_m2 = ResBlock(c2, c2, td, g)
        self.res_u2 = ResBlock(2 * c2, c2, td, g)
        self.up1 = nn.Conv2d(c2, c1, 3, padding=1)
        self.res_u1 = ResBlock(2 * c1, c1, td, g)
        self.up0 = nn.Conv2d(c1, c0, 3, padding=1)
        self.res_u0 = ResBlock(2 * c0, c0, td, g)
        self.norm_out = nn.GroupNorm(g, c0)
        self.conv_out = nn.Conv2d(c0, 3, 3, padding=1)
        w = cfg.attn_width
        self.transformers = nn.ModuleList(
            SpatialTransformer(w, cfg.text_width, cfg.heads, cfg.ff_mult, g) for _ in TRANSFORMER_LAYERS
        )

    def forward(self, sample, timestep, context, masks: list[dict] | None = None):
        """masks: optional list (one dict per transformer layer, see SpatialTransformer).
        Returns (noise prediction, [cross-attention probs per layer], [value activations per layer])."""
        masks = masks or [None] * len(self.transformers)
        probs, values = [], []

        def transformer(i, h):
            h, p, v = self.transformers[i](h, context, masks[i])
            probs.append(p)
            values.append(v)
            return h

        temb = self.time_mlp(timestep_embedding(timestep, self.cfg.channels[0]))
        h = self.res_d0(self.conv_in(sample), temb)
        s0 = h
        h = transformer(0, self.res_d1(self.down0(h), temb))
        s1 = h
        h = transformer(1, self.res_d2(self.down1(h), temb))
        s2 = h
        h = self.res_m2(transformer(2, self.res_m1(h, temb)), temb)
        h = transformer(3, self.res_u2(torch.cat([h, s2], 1), temb))
        h = self.up1(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        h = transformer(4, self.res_u1(torch.cat([h, s1], 1), temb))
        h = self.up0(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        h = self.res_u0(torch.cat([h, s0], 1), temb)
        return self.conv_out(F.silu(self.norm_out(h))), probs, values


class Model(nn.Module):
    """The text encoder and the UNet as trained together: checkpoints hold its state dict (keys
    text.* and unet.*), for training, export and the unlearning recipes alike."""

    def __init__(self, text: TextEncoder, unet: UNet):
        super().__init__()
        self.text = text
        self.unet = unet

    @classmethod
    def create(cls, cfg: ModelConfig) -> "Model":
        """Freshly initialised weights (text encoder first, then UNet: the order the seed is used in)."""
        return cls(TextEncoder(cfg), UNet(cfg))


class MaskedUNet(nn.Module):
    """The exported interface: masks as stacked tensors (B x layers x units), outputs flattened."""

    def __init__(self, unet: UNet):
        super().__init__()
        self.unet = unet

    def forward(self, sample, timestep, encoder_hidden_states, self_attn_head_mask, cross_attn_head_mask,
                cross_attn_value_mask, ff_neuron_mask):
        masks = [
            {"self_head": self_attn_head_mask[:, i], "cross_head": cross_attn_head_mask[:, i],
             "value": cross_attn_value_mask[:, i], "ff": ff_neuron_mask[:, i]}
            for i in range(len(TRANSFORMER_LAYERS))
        ]
        noise, probs, values = self.unet(sample, timestep, encoder_hidden_states, masks)
        return (noise, *probs, torch.stack(values, 1))


def mask_shapes(cfg: ModelConfig) -> dict[str, tuple[int, int]]:
    n = len(TRANSFORMER_LAYERS)
    return {
        "self_attn_head_mask": (n, cfg.heads),
        "cross_attn_head_mask": (n, cfg.heads),
        "cross_attn_value_mask": (n, cfg.attn_width),
        "ff_neuron_mask": (n, cfg.ff_mult * cfg.attn_width),
    }


# ---------------------------------------------------------------- noise schedule

NUM_TRAIN_TIMESTEPS = 1000
BETA_START, BETA_END = 1e-4, 0.02


def alphas_cumprod() -> torch.Tensor:
    betas = torch.linspace(BETA_START, BETA_END, NUM_TRAIN_TIMESTEPS, dtype=torch.float64)
    return torch.cumprod(1 - betas, 0).float()


def images_to_tensor(images) -> torch.Tensor:
    """uint8 N x H x W x 3 images as the model sees them: float N x 3 x H x W in [-1, 1]."""
    return torch.tensor(images).permute(0, 3, 1, 2).float() / 127.5 - 1


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())

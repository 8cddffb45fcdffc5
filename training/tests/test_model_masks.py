"""What the mask inputs of the exported UNet mean, checked on the torch model the ONNX files come from:
all-ones masks are the unmasked model, and zeroing one unit removes exactly that unit's
contribution, per sample of the batch, leaving everything upstream of it untouched."""
from __future__ import annotations

import unittest

import torch

from memlab.model import TRANSFORMER_LAYERS, MaskedUNet, Model, ModelConfig, UNet, mask_shapes

# Small random-weight model with the organism's layout (the fixture's sizes): fast, same code paths.
CFG = ModelConfig(vocab_size=66, channels=(8, 16, 16), text_width=16, heads=4, ff_mult=2, groups=4, time_dim=32)
HEAD_WIDTH = CFG.attn_width // CFG.heads


def make_unet() -> UNet:
    torch.manual_seed(3)
    return UNet(CFG).eval()


def inputs(batch: int = 2):
    g = torch.Generator().manual_seed(11)
    sample = torch.randn((batch, 3, CFG.image_size, CFG.image_size), generator=g)
    timestep = torch.tensor([700.0, 120.0][:batch])
    context = torch.randn((batch, CFG.max_tokens, CFG.text_width), generator=g)
    return sample, timestep, context


def ones(batch: int = 2) -> dict[str, torch.Tensor]:
    return {name: torch.ones((batch, *shape)) for name, shape in mask_shapes(CFG).items()}


class Capture:
    """The inputs of each transformer layer's output projections (one tensor per layer), that is:
    the merged self-attention heads, the merged cross-attention heads, the feed-forward hidden units."""

    def __init__(self, unet: UNet):
        self.seen: dict[str, list[torch.Tensor]] = {"self_out": [], "cross_out": [], "ff_out": []}
        self.handles = [
            getattr(block, name).register_forward_hook(lambda _m, args, _out, name=name: self.seen[name].append(args[0]))
            for block in unet.transformers
            for name in self.seen
        ]

    def __enter__(self):
        return self.seen

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()


@torch.no_grad()
def run(unet: UNet, masks: dict[str, torch.Tensor]):
    sample, timestep, context = inputs(masks["cross_attn_head_mask"].shape[0])
    with Capture(unet) as seen:
        noise, *rest = MaskedUNet(unet)(sample, timestep, context, *masks.values())
    return {"noise": noise, "probs": rest[:-1], "values": rest[-1], **seen}


def head_columns(head: int) -> slice:
    return slice(head * HEAD_WIDTH, (head + 1) * HEAD_WIDTH)


class MaskSemantics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.unet = make_unet()
        cls.base = run(cls.unet, ones())

    def test_all_ones_masks_are_the_unmasked_model(self):
        sample, timestep, context = inputs()
        with torch.no_grad():
            noise, probs, values = self.unet(sample, timestep, context)
        self.assertTrue(torch.equal(self.base["noise"], noise))
        for p, q in zip(self.base["probs"], probs):
            self.assertTrue(torch.equal(p, q))
        self.assertTrue(torch.equal(self.base["values"], torch.stack(values, 1)))

    def test_a_zeroed_cross_attention_head_changes_the_output_only_through_that_head(self):
        layer, head = 1, 2
        masks = ones()
        masks["cross_attn_head_mask"][:, layer, head] = 0
        out = run(self.unet, masks)
        self.assertGreater(float((out["noise"] - self.base["noise"]).abs().max()), 1e-4)
        # upstream of the mask nothing moves: earlier layers, and this layer's attention itself
        for i in range(layer + 1):
            self.assertTrue(torch.equal(out["probs"][i], self.base["probs"][i]), f"probs of layer {i}")
        for i in range(layer):
            self.assertTrue(torch.equal(out["cross_out"][i], self.base["cross_out"][i]))
        merged, reference = out["cross_out"][layer], self.base["cross_out"][layer]
        self.assertEqual(float(merged[..., head_columns(head)].abs().max()), 0.0)
        others = [c for h in range(CFG.heads) if h != head for c in range(*head_columns(h).indices(CFG.attn_width))]
        self.assertTrue(torch.equal(merged[..., others], reference[..., others]))

    def test_a_mask_value_scales_the_head_linearly(self):
        layer, head = 3, 0
        masks = ones()
        masks["cross_attn_head_mask"][:, layer, head] = 0.5
        merged = run(self.unet, masks)["cross_out"][layer][..., head_columns(head)]
        self.assertTrue(torch.equal(merged, 0.5 * self.base["cross_out"][layer][..., head_columns(head)]))

    def test_masks_act_per_sample_so_baseline_and_pruned_share_a_batch(self):
        masks = ones()
        masks["cross_attn_head_mask"][1, 0, :] = 0  # every cross-attention head of layer 0, sample 1 only
        out = run(self.unet, masks)
        self.assertTrue(torch.equal(out["noise"][0], self.base["noise"][0]))
        self.assertGreater(float((out["noise"][1] - self.base["noise"][1]).abs().max()), 1e-4)

    def test_a_zeroed_value_neuron_empties_its_column_and_leaves_the_reported_values(self):
        layer, neuron = 2, 5
        masks = ones()
        masks["cross_attn_value_mask"][:, layer, neuron] = 0
        out = run(self.unet, masks)
        # the value output reports the activations before the mask (NeMo's statistics need them)
        self.assertTrue(torch.equal(out["values"][:, : layer + 1], self.base["values"][:, : layer + 1]))
        merged, reference = out["cross_out"][layer], self.base["cross_out"][layer]
        self.assertEqual(float(merged[..., neuron].abs().max()), 0.0)
        keep = [c for c in range(CFG.attn_width) if c != neuron]
        self.assertTrue(torch.equal(merged[..., keep], reference[..., keep]))
        self.assertGreater(float((out["noise"] - self.base["noise"]).abs().max()), 1e-5)

    def test_zeroed_feed_forward_and_self_attention_units_remove_only_themselves(self):
        layer = len(TRANSFORMER_LAYERS) - 1
        masks = ones()
        masks["ff_neuron_mask"][:, layer, 7] = 0
        out = run(self.unet, masks)
        hidden, reference = out["ff_out"][layer], self.base["ff_out"][layer]
        self.assertEqual(float(hidden[..., 7].abs().max()), 0.0)
        keep = [c for c in range(CFG.ff_mult * CFG.attn_width) if c != 7]
        self.assertTrue(torch.equal(hidden[..., keep], reference[..., keep]))

        masks = ones()
        masks["self_attn_head_mask"][:, layer, 1] = 0
        out = run(self.unet, masks)
        merged, reference = out["self_out"][layer], self.base["self_out"][layer]
        self.assertEqual(float(merged[..., head_columns(1)].abs().max()), 0.0)
        self.assertTrue(torch.equal(merged[..., head_columns(0)], reference[..., head_columns(0)]))


class OneModelClass(unittest.TestCase):
    def test_a_fresh_model_initialises_the_text_encoder_first(self):
        # training's resumable runs depend on this order of drawing from the seed
        torch.manual_seed(0)
        model = Model.create(CFG)
        torch.manual_seed(0)
        from memlab.model import TextEncoder

        text = TextEncoder(CFG)
        unet = UNet(CFG)
        self.assertTrue(all(torch.equal(a, b) for a, b in zip(model.text.state_dict().values(), text.state_dict().values())))
        self.assertTrue(all(torch.equal(a, b) for a, b in zip(model.unet.state_dict().values(), unet.state_dict().values())))
        self.assertEqual(next(iter(model.state_dict())).split(".")[0], "text")


if __name__ == "__main__":
    unittest.main()

"""Exporting again gives back the committed model folder: the torch reference outputs of the
committed checkpoint, and the mask presets a later recipe step added to the manifest."""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
import unittest

import torch

from memlab.export import kept_presets, load_checkpoint_model, torch_reference
from memlab.model import Model

TRAINING = os.path.join(os.path.dirname(__file__), "..")
CHECKPOINT = os.path.join(TRAINING, "checkpoints", "resume.pt")
ORGANISM = os.path.join(TRAINING, "..", "public", "models", "memlab-organism")


def write_preset(folder: str, preset_id: str) -> dict:
    blob = json.dumps({"id": preset_id, "masks": {"cross_attn_head_mask": [1, 2]}}).encode()
    os.makedirs(os.path.join(folder, "presets"), exist_ok=True)
    path = f"presets/{preset_id}.json"
    with open(os.path.join(folder, path), "wb") as f:
        f.write(blob)
    return {"id": preset_id, "method": "test", "path": path, "bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest()}


class KeptPresets(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.out = self.dir.name
        self.presets = [write_preset(self.out, "a"), write_preset(self.out, "b")]
        with open(os.path.join(self.out, "manifest.json"), "w") as f:
            json.dump({"id": "m", "version": "1.5.0", "presets": self.presets}, f)

    def tearDown(self):
        self.dir.cleanup()

    def test_the_same_model_keeps_its_presets_in_order(self):
        self.assertEqual(kept_presets(self.out, {"id": "m", "version": "1.5.0"}), self.presets)

    def test_other_weights_drop_them_and_say_so(self):
        for other in ({"id": "m", "version": "1.6.0"}, {"id": "other", "version": "1.5.0"}):
            with contextlib.redirect_stdout(io.StringIO()) as said:
                self.assertEqual(kept_presets(self.out, other), [])
            self.assertIn(f"dropping 2 mask preset(s) made for m 1.5.0: remake them for {other['id']}", said.getvalue())

    def test_a_changed_or_missing_preset_file_is_dropped(self):
        with open(os.path.join(self.out, "presets", "a.json"), "ab") as f:
            f.write(b" ")
        with contextlib.redirect_stdout(io.StringIO()) as said:
            self.assertEqual(kept_presets(self.out, {"id": "m", "version": "1.5.0"}), self.presets[1:])
            os.remove(os.path.join(self.out, "presets", "b.json"))
            self.assertEqual(kept_presets(self.out, {"id": "m", "version": "1.5.0"}), [])
        self.assertIn("dropping mask preset a: presets/a.json is missing or changed", said.getvalue())

    def test_a_first_export_has_none(self):
        with tempfile.TemporaryDirectory() as empty:
            self.assertEqual(kept_presets(empty, {"id": "m", "version": "1.5.0"}), [])


@unittest.skipUnless(os.path.exists(CHECKPOINT) and os.path.exists(os.path.join(ORGANISM, "reference.json")),
                     "no committed checkpoint and organism")
class CommittedCheckpoint(unittest.TestCase):
    def test_one_model_class_reads_the_training_checkpoint(self):
        text, unet, cfg, step = load_checkpoint_model(CHECKPOINT)
        ck = torch.load(CHECKPOINT, map_location="cpu")
        model = Model.create(cfg)
        model.load_state_dict({k: v.float() for k, v in ck["model"].items()})  # strict: same keys, same shapes
        model.load_state_dict(ck["ema"])
        self.assertTrue(torch.equal(model.unet.conv_out.weight, unet.conv_out.weight))
        with open(os.path.join(ORGANISM, "manifest.json")) as f:
            self.assertEqual(json.load(f)["version"], f"1.{step}.0")

    def test_the_reference_outputs_come_back_within_float_rounding(self):
        # Bit for bit with OpenBLAS's AVX2 kernels (build.sh pins them); other kernels round
        # differently: 7e-7 at most measured with the AVX-512 ones, on outputs of size about 4.
        text, unet, cfg, _ = load_checkpoint_model(CHECKPOINT)
        ref = torch_reference(text, unet, cfg)
        with open(os.path.join(ORGANISM, "reference.json")) as f:
            committed = json.load(f)
        self.assertEqual(ref["input_ids"], committed["input_ids"])
        self.assertEqual(ref["sample"], committed["sample"])
        for key in ("last_hidden_state_first8", "noise_pred", "noise_pred_cross_head_0_0_ablated"):
            diff = max(abs(a - b) for a, b in zip(ref[key], committed[key]))
            self.assertLess(diff, 1e-5, key)


if __name__ == "__main__":
    unittest.main()

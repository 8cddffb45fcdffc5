"""Export a model to the lab's ONNX interface and write its manifest.

  python3 -m memlab.export --out ../public/models/memlab-organism            (trained EMA weights)
  python3 -m memlab.export --fixture --out ../public/models/fixture-random   (tiny random weights)

Files written:
  text_encoder.onnx     input_ids int64 [batch, 24] -> last_hidden_state [batch, 24, width]
  unet.fp32.onnx        reference precision
  unet.int8.onnx        default: int8 per-channel weights + DequantizeLinear, fp32 compute
  memorized.bin         uint8 [n, 32, 32, 3]: the planted images (artworks, then templates)
  train-index.bin       uint8 [n, 8, 8, 3]: thumbnails of every distinct training image, for the
                        nearest-training-image search (memorized images first, then scenes)
  reference.json        torch outputs for a fixed input, so tests can check the ONNX files
  manifest.json         everything the lab needs to use the files (schema: src/core/manifest.ts)
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import re

import numpy as np
import torch

from . import data
from .model import (BETA_END, BETA_START, NUM_TRAIN_TIMESTEPS, TRANSFORMER_LAYERS, MaskedUNet, ModelConfig,
                    TextEncoder, UNet, count_parameters, mask_shapes)
from .quantize import quantize_int8

OPSET = 17
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE_CONFIG = dict(channels=(8, 16, 16), text_width=16, heads=4, ff_mult=2, groups=4, time_dim=32)


def export_text_encoder(text: TextEncoder, cfg: ModelConfig, path: str) -> None:
    ids = torch.zeros((2, cfg.max_tokens), dtype=torch.int64)
    torch.onnx.export(
        text, (ids,), path, opset_version=OPSET, input_names=["input_ids"], output_names=["last_hidden_state"],
        dynamic_axes={"input_ids": {0: "batch"}, "last_hidden_state": {0: "batch"}},
    )


def unet_io_names() -> tuple[list[str], list[str]]:
    inputs = ["sample", "timestep", "encoder_hidden_states", *mask_shapes(ModelConfig()).keys()]
    outputs = ["noise_pred", *[f"cross_attn_probs_{i}" for i in range(len(TRANSFORMER_LAYERS))], "cross_attn_values"]
    return inputs, outputs


def example_unet_inputs(cfg: ModelConfig, batch: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    sample = torch.randn((batch, 3, cfg.image_size, cfg.image_size), generator=g)
    timestep = torch.tensor([500.0] * batch)
    ctx = torch.randn((batch, cfg.max_tokens, cfg.text_width), generator=g)
    masks = [torch.ones((batch, *s)) for s in mask_shapes(cfg).values()]
    return sample, timestep, ctx, masks


def export_unet(unet: UNet, cfg: ModelConfig, path: str) -> None:
    wrapped = MaskedUNet(unet).eval()
    sample, timestep, ctx, masks = example_unet_inputs(cfg, 2)
    inputs, outputs = unet_io_names()
    dyn = {n: {0: "batch"} for n in inputs + outputs}
    torch.onnx.export(wrapped, (sample, timestep, ctx, *masks), path, opset_version=OPSET,
                      input_names=inputs, output_names=outputs, dynamic_axes=dyn)


def file_entry(path: str) -> dict:
    with open(path, "rb") as f:
        blob = f.read()
    return {"path": os.path.basename(path), "bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest()}


def thumbnails(images: np.ndarray, size: int = 8) -> np.ndarray:
    n, h, w, c = images.shape
    f = h // size
    return np.round(images.reshape(n, size, f, size, f, c).astype(np.float32).mean(axis=(2, 4))).astype(np.uint8)


def torch_reference(text: TextEncoder, unet: UNet, cfg: ModelConfig) -> dict:
    """Outputs of the torch model for one fixed input, to check the exported graphs against."""
    vocab = data.vocabulary()
    ids = torch.tensor([data.tokenize("a painting of zephyr", vocab)])
    sample, timestep, _, masks = example_unet_inputs(cfg, 1, seed=7)
    with torch.no_grad():
        ctx = text(ids)
        noise = unet(sample, timestep, ctx)[0]  # the unmasked model: all-ones masks must match it
        masks[1][0, 0, 0] = 0.0  # ablate cross-attention head 0 of layer 0
        ablated = MaskedUNet(unet)(sample, timestep, ctx, *masks)[0]
    return {
        "prompt": "a painting of zephyr",
        "input_ids": ids[0].tolist(),
        "last_hidden_state_first8": ctx[0, 0, :8].tolist(),
        "sample": sample.flatten().tolist(),
        "timestep": float(timestep[0]),
        "noise_pred": noise.flatten().tolist(),
        "noise_pred_cross_head_0_0_ablated": ablated.flatten().tolist(),
    }


def load_checkpoint_model(path: str) -> tuple[TextEncoder, UNet, ModelConfig, int]:
    """The EMA weights of a training checkpoint (checkpoints/resume.pt, or .work/full.pt, which has
    no "config" entry and so uses the default config)."""
    ck = torch.load(path, map_location="cpu")
    if "config" in ck:
        cfg = ModelConfig(**{**ck["config"], "channels": tuple(ck["config"]["channels"])})
    else:
        cfg = ModelConfig(vocab_size=len(data.vocabulary()))
    text, unet = TextEncoder(cfg), UNet(cfg)
    text.load_state_dict({k[len("text."):]: v.float() for k, v in ck["ema"].items() if k.startswith("text.")})
    unet.load_state_dict({k[len("unet."):]: v.float() for k, v in ck["ema"].items() if k.startswith("unet.")})
    return text.eval(), unet.eval(), cfg, int(ck["step"])


def shared_entry(out: str, shared: str, name: str) -> dict:
    """Entry for a data file that lives in a sibling model directory (shared = "../<dir>")."""
    assert re.fullmatch(r"\.\./[\w.-]+", shared), "shared data may only point one directory up"
    entry = file_entry(os.path.join(out, shared, name))
    return {**entry, "path": f"{shared}/{name}"}


def export_model(text: TextEncoder, unet: UNet, cfg: ModelConfig, out: str, *, model_id: str, version: str,
                 step: int, description: str, seed: int = 0, shared: str | None = None,
                 extra: dict | None = None, ds: data.Dataset | None = None) -> dict:
    """Write a model directory (ONNX files, data files, reference outputs, manifest) and return the
    manifest. Every model the lab loads, the base and its unlearned variants, goes through here, so
    they share one ONNX interface. shared="../<dir>": point memorized.bin and train-index.bin at that
    sibling directory (written by an earlier export) instead of writing copies. extra: additional
    top-level manifest fields (e.g. "variant")."""
    os.makedirs(out, exist_ok=True)
    vocab = data.vocabulary()
    text.eval(), unet.eval()

    export_text_encoder(text, cfg, os.path.join(out, "text_encoder.onnx"))
    fp32 = os.path.join(out, "unet.fp32.onnx")
    export_unet(unet, cfg, fp32)
    int8 = os.path.join(out, "unet.int8.onnx")
    quantize_int8(fp32, int8)

    ds = ds if ds is not None else data.build_dataset(seed)
    n_index = len(ds.unique_images) + len(ds.scene_images)
    if shared is None:
        ds.unique_images.tofile(os.path.join(out, "memorized.bin"))
        index = np.concatenate([thumbnails(ds.unique_images), thumbnails(ds.scene_images)])
        index.tofile(os.path.join(out, "train-index.bin"))
        memorized_file = file_entry(os.path.join(out, "memorized.bin"))
        index_file = file_entry(os.path.join(out, "train-index.bin"))
    else:
        memorized_file = shared_entry(out, shared, "memorized.bin")
        index_file = shared_entry(out, shared, "train-index.bin")
        assert index_file["bytes"] == n_index * 8 * 8 * 3, f"{shared}/train-index.bin does not fit this dataset"
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(torch_reference(text, unet, cfg), f)

    inputs, outputs = unet_io_names()
    shapes = mask_shapes(cfg)
    manifest = {
        "format": 1,
        "id": model_id,
        "version": version,
        "description": description,
        "trainingSteps": step,
        "parameters": {"textEncoder": count_parameters(text), "unet": count_parameters(unet)},
        "image": {"width": cfg.image_size, "height": cfg.image_size, "channels": 3, "range": [-1, 1]},
        "schedule": {"kind": "linear", "betaStart": BETA_START, "betaEnd": BETA_END,
                     "trainSteps": NUM_TRAIN_TIMESTEPS, "prediction": "epsilon", "spacing": "trailing",
                     "clipSample": True, "useClippedModelOutput": True},
        "defaults": {"steps": 25, "guidance": 4.0, "seed": 7},
        "text": {"vocab": vocab, "maxTokens": cfg.max_tokens, "width": cfg.text_width,
                 "padId": data.PAD_ID, "bosId": data.BOS_ID, "eosId": data.EOS_ID, "unkId": data.UNK_ID},
        "files": {
            "textEncoder": file_entry(os.path.join(out, "text_encoder.onnx")),
            "unet": {"int8": file_entry(int8), "fp32": file_entry(fp32)},
            "memorizedImages": memorized_file,
            "trainIndex": {**index_file, "count": int(n_index),
                           "thumbSize": 8, "memorizedCount": int(len(ds.unique_images))},
            "reference": file_entry(os.path.join(out, "reference.json")),
        },
        "unet": {
            "inputs": {"sample": "sample", "timestep": "timestep", "context": "encoder_hidden_states"},
            "noiseOutput": "noise_pred",
            "masks": [{"name": n, "layers": s[0], "units": s[1],
                       "kind": {"self_attn_head_mask": "self-attention head", "cross_attn_head_mask": "cross-attention head",
                                "cross_attn_value_mask": "cross-attention value neuron", "ff_neuron_mask": "feed-forward neuron"}[n]}
                      for n, s in shapes.items()],
            "layers": [{"name": name, "resolution": res, "heads": cfg.heads, "crossAttentionOutput": f"cross_attn_probs_{i}"}
                       for i, (name, res) in enumerate(TRANSFORMER_LAYERS)],
            "valueOutput": "cross_attn_values",
        },
        "memorized": [{**m, "caption": m["captions"][0]} for m in ds.memorized],
        "neutralPrompts": ds.neutral_prompts,
        "neutralObjects": ds.neutral_objects,
        "trainPromptsSample": ds.train_scene_captions[:64],
        "palette": {
            "colours": {k: list(v) for k, v in data.COLOURS.items()},
            "backgrounds": {k: list(v) for k, v in data.BACKGROUNDS.items()},
            "shapes": data.SHAPES,
            "sizes": data.SIZES,
            "positions": {k: list(v) for k, v in data.POSITIONS.items()},
        },
    }
    manifest.update(extra or {})
    presets = kept_presets(out, manifest)
    if presets:
        manifest["presets"] = presets
    assert inputs[3:] == list(shapes) and outputs[0] == "noise_pred"
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    return manifest


ORGANISM_ID = "memlab-organism"


def export_organism(text: TextEncoder, unet: UNet, out: str, step: int, *, seed: int = 0,
                    ds: data.Dataset | None = None) -> dict:
    """The bundled model, trained `step` steps: its id, version and description, set in one place."""
    description = (f"The lab's model organism: a {count_parameters(unet) / 1e6:.1f} M-parameter pixel-space UNet "
                   f"trained {step} steps on generated scenes, with 16 planted artworks and 4 poster templates it memorizes.")
    return export_model(text, unet, unet.cfg, out, model_id=ORGANISM_ID, version=f"1.{step}.0", step=step,
                        description=description, seed=seed, ds=ds)


def kept_presets(out: str, manifest: dict) -> list[dict]:
    """The mask presets of the manifest being replaced in `out`, when they still apply.

    Presets (presets/*.json, e.g. UniForget's masks) are made by a later, slower recipe step
    (memlab.unlearn) for one trained model; exporting that same model again must not lose them.
    They are kept when the old manifest is the same model id and version (the version names the
    training step, so the same weights) and each preset file is still there with its recorded size
    and hash; otherwise they are dropped, with a note to remake them."""
    path = os.path.join(out, "manifest.json")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        old = json.load(f)
    presets = old.get("presets", [])
    if not presets:
        return []
    if (old.get("id"), old.get("version")) != (manifest["id"], manifest["version"]):
        print(f"dropping {len(presets)} mask preset(s) made for {old.get('id')} {old.get('version')}: "
              f"remake them for {manifest['id']} {manifest['version']} (UNLEARN=1 npm run model:build)")
        return []
    kept = []
    for entry in presets:
        file = os.path.join(out, entry["path"])
        if os.path.exists(file) and file_entry(file)["sha256"] == entry["sha256"]:
            kept.append(entry)
        else:
            print(f"dropping mask preset {entry['id']}: {entry['path']} is missing or changed")
    return kept


def write_fixture_family(out: str) -> None:
    """Plumbing for the lab's variant and preset features on the fixture: a "variant" directory that
    reuses the fixture's own files (same weights, so it forgets nothing; it only exercises lazy
    loading, side-by-side and the variant table) and one mask preset in the fixture's presets/."""
    import hashlib
    with open(os.path.join(out, "manifest.json")) as f:
        manifest = json.load(f)
    base_dir = os.path.basename(os.path.normpath(out))
    preset = {"id": "fixture-preset", "method": "fixture", "label": "Fixture preset (plumbing)",
              "masks": {"cross_attn_head_mask": [0, 1]}, "fractionPruned": 0, "of": manifest["id"]}
    total = sum(m["layers"] * m["units"] for m in manifest["unet"]["masks"])
    preset["fractionPruned"] = round(2 / total, 5)
    os.makedirs(os.path.join(out, "presets"), exist_ok=True)
    blob = json.dumps(preset, indent=1).encode()
    with open(os.path.join(out, "presets", "fixture-preset.json"), "wb") as f:
        f.write(blob)
    manifest["presets"] = [{"id": preset["id"], "method": preset["method"], "fractionPruned": preset["fractionPruned"],
                            "path": "presets/fixture-preset.json", "bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest()}]
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)

    variant = json.loads(json.dumps(manifest))
    variant.pop("presets")
    variant["id"] = f"{manifest['id']}-variant"
    variant["description"] = "The fixture's own weights listed as its unlearning variant: plumbing for the variant views."
    variant["variant"] = {"of": manifest["id"], "method": "identity", "forgotten": [manifest["memorized"][0]["id"]],
                          "costSeconds": 0, "steps": 0}

    def shared(entry):
        if isinstance(entry, dict) and "path" in entry and "sha256" in entry:
            entry["path"] = f"../{base_dir}/{entry['path']}"
        elif isinstance(entry, dict):
            for v in entry.values():
                shared(v)
    shared(variant["files"])
    vdir = os.path.join(os.path.dirname(os.path.normpath(out)), variant["id"])
    os.makedirs(vdir, exist_ok=True)
    with open(os.path.join(vdir, "manifest.json"), "w") as f:
        json.dump(variant, f, indent=1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--fixture", action="store_true", help="tiny random-weight model for plumbing tests")
    ap.add_argument("--checkpoint", default=os.path.join(HERE, "checkpoints", "resume.pt"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    vocab = data.vocabulary()

    if args.fixture:
        cfg = ModelConfig(vocab_size=len(vocab), **FIXTURE_CONFIG)
        torch.manual_seed(args.seed)
        text, unet = TextEncoder(cfg), UNet(cfg)
        description = "Random weights with the bundled model's interface, for plumbing tests. Generates noise."
        export_model(text, unet, cfg, args.out, model_id="fixture-random", version="1.0.0", step=0,
                     description=description, seed=args.seed)
        write_fixture_family(args.out)
    else:
        text, unet, cfg, step = load_checkpoint_model(args.checkpoint)
        export_organism(text, unet, args.out, step, seed=args.seed)
    sizes = {k: os.path.getsize(os.path.join(args.out, k)) for k in ("text_encoder.onnx", "unet.fp32.onnx", "unet.int8.onnx")}
    print(json.dumps({"out": args.out, "config": dataclasses.asdict(cfg), "bytes": sizes}))


if __name__ == "__main__":
    main()

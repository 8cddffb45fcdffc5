"""Makes the diffusers reference data the latent-pipeline tests compare against.

Not part of the lab: run once, by hand, in a virtual environment with diffusers (installed from
its git source; commit recorded in the outputs), torch (CPU), transformers, numpy and onnxruntime:

    python src/core/diffusers/__fixtures__/make_fixtures.py

from the repository root, with ../shared/fixtures/tiny-sd1 beside the clone. It writes
  src/core/diffusers/__fixtures__/scheduler-traces.json   schedulers fed recorded model outputs
  src/core/diffusers/__fixtures__/dpm-solver-scheduler_config.json   as diffusers' save_config writes it
  src/core/diffusers/__fixtures__/fast-tokenizer/        tiny-sd1's tokenizer as transformers' fast
                                                         CLIPTokenizer saves it (tokenizer.json), and
                                                         the ids that Rust tokenizer gives the
                                                         reference prompts
  src/node/__fixtures__/sd2-style/...                     an SD 2.x-style run (see write_sd2_style_run)

Scheduler traces: each case builds a diffusers scheduler class from a config dict with from_config
(class defaults fill missing keys), sets the timesteps, multiplies a seeded standard-normal sample
[1, 4, 4, 4] by init_noise_sigma, and for every timestep records scale_model_input's output, a
model output (a fixed smooth function of that input and t, so the run exercises the feedback of a
real sampler), and the step's prev_sample. Everything is float32; values are written as the
shortest decimal that reads back to the same float32.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch

import diffusers
import onnxruntime
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler, PNDMScheduler
from transformers import CLIPTokenizer

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
TINY = os.path.join(ROOT, "..", "shared", "fixtures", "tiny-sd1")
CORE_OUT = os.path.join(ROOT, "src", "core", "diffusers", "__fixtures__")
NODE_OUT = os.path.join(ROOT, "src", "node", "__fixtures__", "sd2-style")

SD = {"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear"}
# SD 1.5's shipped scheduler_config.json (as in tiny-sd1)
SD15_PNDM = {"_class_name": "PNDMScheduler", **SD, "skip_prk_steps": True, "set_alpha_to_one": False,
             "steps_offset": 1, "prediction_type": "epsilon", "timestep_spacing": "leading", "trained_betas": None}
# stabilityai/stable-diffusion-2's scheduler_config.json (Euler, v-prediction)
SD2_EULER = {"_class_name": "EulerDiscreteScheduler", **SD, "prediction_type": "v_prediction",
             "skip_prk_steps": True, "set_alpha_to_one": False, "steps_offset": 1, "clip_sample": False,
             "interpolation_type": "linear", "use_karras_sigmas": False, "trained_betas": None}
# stabilityai/stable-diffusion-2-1's scheduler_config.json (DDIM, v-prediction)
SD21_DDIM = {"_class_name": "DDIMScheduler", **SD, "prediction_type": "v_prediction", "clip_sample": False,
             "set_alpha_to_one": False, "steps_offset": 1, "skip_prk_steps": True, "trained_betas": None}

CLASSES = {"DDIMScheduler": DDIMScheduler, "PNDMScheduler": PNDMScheduler,
           "EulerDiscreteScheduler": EulerDiscreteScheduler, "DPMSolverMultistepScheduler": DPMSolverMultistepScheduler}
DPM = "DPMSolverMultistepScheduler"

CASES = [
    # (name, config, class to build or None for the config's own, steps, use_clipped_model_output)
    ("ddim-from-sd15-pndm-config", SD15_PNDM, "DDIMScheduler", 10, False),
    ("ddim-sd21-v-prediction", SD21_DDIM, None, 7, False),
    ("ddim-trailing-clipped-model-output", {**SD15_PNDM, "_class_name": "DDIMScheduler",
                                            "timestep_spacing": "trailing", "beta_schedule": "linear",
                                            "beta_start": 0.0001, "beta_end": 0.02}, None, 5, True),
    ("ddim-linspace-sample-thresholding", {**SD21_DDIM, "prediction_type": "sample", "thresholding": True,
                                           "sample_max_value": 1.5, "timestep_spacing": "linspace"}, None, 6, False),
    ("ddim-cosine-zero-snr-trailing", {**SD21_DDIM, "beta_schedule": "squaredcos_cap_v2",
                                       "rescale_betas_zero_snr": True, "timestep_spacing": "trailing"}, None, 4, False),
    ("pndm-sd15-8-steps", SD15_PNDM, None, 8, False),
    ("pndm-v-prediction", {**SD15_PNDM, "prediction_type": "v_prediction"}, None, 5, False),
    ("pndm-runge-kutta", {"_class_name": "PNDMScheduler"}, None, 10, False),
    ("pndm-trailing", {**SD15_PNDM, "timestep_spacing": "trailing"}, None, 7, False),
    ("euler-from-sd15-config", SD15_PNDM, "EulerDiscreteScheduler", 10, False),
    ("euler-sd2-v-prediction", SD2_EULER, None, 6, False),
    ("euler-leading-offset", {**SD2_EULER, "prediction_type": "epsilon", "timestep_spacing": "leading"}, None, 9, False),
    ("euler-trailing-v-prediction", {**SD2_EULER, "timestep_spacing": "trailing"}, None, 7, False),
    ("euler-karras", {**SD2_EULER, "prediction_type": "epsilon", "use_karras_sigmas": True}, None, 8, False),
    ("euler-log-linear", {**SD2_EULER, "prediction_type": "epsilon", "interpolation_type": "log_linear"}, None, 6, False),
    ("euler-exponential-sigma-min", {**SD2_EULER, "use_exponential_sigmas": True,
                                     "final_sigmas_type": "sigma_min"}, None, 5, False),
    ("euler-continuous-v", {**SD2_EULER, "timestep_type": "continuous"}, None, 5, False),
    ("euler-zero-snr-trailing-v", {**SD2_EULER, "rescale_betas_zero_snr": True, "timestep_spacing": "trailing"},
     None, 6, False),
    ("euler-sample-prediction", {**SD2_EULER, "prediction_type": "sample"}, None, 4, False),
    ("dpm-from-sd15-config", SD15_PNDM, DPM, 10, False),
    ("dpm-karras-v-prediction", {**SD2_EULER, "_class_name": DPM, "use_karras_sigmas": True}, None, 12, False),
    ("dpm-order-3-heun-20-steps", {**SD15_PNDM, "_class_name": DPM, "solver_order": 3, "solver_type": "heun"},
     None, 20, False),
    ("dpm-order-3-short", {**SD15_PNDM, "_class_name": DPM, "solver_order": 3}, None, 8, False),
    ("dpm-dpmsolver-sigma-min", {**SD15_PNDM, "_class_name": DPM, "algorithm_type": "dpmsolver",
                                 "final_sigmas_type": "sigma_min", "solver_type": "heun"}, None, 8, False),
    ("dpm-dpmsolver-order-3-v", {**SD2_EULER, "_class_name": DPM, "algorithm_type": "dpmsolver", "solver_order": 3,
                                 "final_sigmas_type": "sigma_min"}, None, 16, False),
    ("dpm-trailing-lambda-clipped-v", {**SD2_EULER, "_class_name": DPM, "timestep_spacing": "trailing",
                                       "lambda_min_clipped": -5.1}, None, 10, False),
    ("dpm-leading-euler-at-final", {**SD15_PNDM, "_class_name": DPM, "euler_at_final": True,
                                    "final_sigmas_type": "sigma_min", "lower_order_final": False}, None, 16, False),
    ("dpm-lu-lambdas", {**SD15_PNDM, "_class_name": DPM, "use_lu_lambdas": True}, None, 9, False),
    ("dpm-exponential-sample-thresholding", {**SD15_PNDM, "_class_name": DPM, "use_exponential_sigmas": True,
                                             "prediction_type": "sample", "thresholding": True,
                                             "sample_max_value": 1.5}, None, 6, False),
    ("dpm-zero-snr-trailing-v", {**SD2_EULER, "_class_name": DPM, "rescale_betas_zero_snr": True,
                                 "timestep_spacing": "trailing"}, None, 6, False),
]


def floats(t) -> list[float]:
    """float32 values as Python floats (exact; json writes the shortest round-tripping decimal)."""
    return [float(x) for x in np.asarray(t, dtype=np.float32).reshape(-1)]


def model_output(x: torch.Tensor, t: float) -> torch.Tensor:
    """A stand-in UNet: bounded, smooth, depends on the input and the timestep."""
    k = torch.arange(x.numel(), dtype=torch.float32).reshape(x.shape)
    return (0.8 * torch.sin(0.37 * k + float(t) / 97.0) + 0.2 * torch.tanh(x)).to(torch.float32)


def scheduler_trace(name, config, use, steps, clipped, seed):
    cls = CLASSES[use or config["_class_name"]]
    scheduler = cls.from_config(config)
    scheduler.set_timesteps(steps)
    sample0 = torch.from_numpy(np.random.default_rng(seed).standard_normal((1, 4, 2, 2)).astype(np.float32))
    latents = sample0 * scheduler.init_noise_sigma
    inputs, outputs, prevs = [], [], []
    for t in scheduler.timesteps:
        x = scheduler.scale_model_input(latents, t)
        out = model_output(x, float(t))
        kwargs = {"use_clipped_model_output": True} if clipped else {}
        latents = scheduler.step(out, t, latents, **kwargs).prev_sample
        inputs.append(floats(x))
        outputs.append(floats(out))
        prevs.append(floats(latents))
    sigmas = getattr(scheduler, "sigmas", None)
    return {
        "name": name,
        "config": config,
        "use": use,
        "steps": steps,
        "useClippedModelOutput": clipped,
        "effectiveConfig": {k: v for k, v in dict(scheduler.config).items() if not k.startswith("_")},
        "timesteps": [float(t) for t in scheduler.timesteps],
        "sigmas": None if sigmas is None else floats(sigmas),
        "initNoiseSigma": float(scheduler.init_noise_sigma),
        "sample": floats(sample0),
        "modelInputs": inputs,
        "modelOutputs": outputs,
        "prevSamples": prevs,
    }


def provenance() -> dict:
    src = os.environ.get("DIFFUSERS_SRC")
    commit = None
    if src:
        commit = subprocess.run(["git", "-C", src, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    import transformers
    return {"diffusers": diffusers.__version__, "diffusersCommit": commit, "torch": torch.__version__,
            "numpy": np.__version__, "transformers": transformers.__version__, "onnxruntime": onnxruntime.__version__,
            "python": sys.version.split()[0]}


def write_scheduler_traces():
    cases = [scheduler_trace(*case, seed=i) for i, case in enumerate(CASES)]
    with open(os.path.join(CORE_OUT, "scheduler-traces.json"), "w") as f:
        json.dump({"provenance": provenance(), "note": __doc__.split("\n\n")[-1].strip(), "cases": cases}, f)
    with tempfile.TemporaryDirectory() as d:
        DPMSolverMultistepScheduler.from_config(SD15_PNDM).save_config(d)
        shutil.copy(os.path.join(d, "scheduler_config.json"),
                    os.path.join(CORE_OUT, "dpm-solver-scheduler_config.json"))


def write_sd2_style_run():
    """diffusers' OnnxStableDiffusionPipeline on tiny-sd1's graphs with SD 2.x's scheduler and padding."""
    os.makedirs(NODE_OUT, exist_ok=True)
    scheduler_config = {**SD2_EULER, "_diffusers_version": diffusers.__version__}
    with open(os.path.join(TINY, "tokenizer", "tokenizer_config.json")) as f:
        tokenizer_config = json.load(f)
    with open(os.path.join(TINY, "tokenizer", "special_tokens_map.json")) as f:
        special_tokens_map = json.load(f)
    with open(os.path.join(TINY, "model_index.json")) as f:
        model_index = json.load(f)
    tokenizer_config["pad_token"] = "!"
    special_tokens_map["pad_token"] = "!"
    model_index["scheduler"] = ["diffusers", "EulerDiscreteScheduler"]
    configs = {
        "model_index.json": model_index,
        "scheduler/scheduler_config.json": scheduler_config,
        "tokenizer/tokenizer_config.json": tokenizer_config,
        "tokenizer/special_tokens_map.json": special_tokens_map,
    }
    prompt, steps, guidance = "a photo of a cat", 6, 7.5
    latents0 = np.random.default_rng(2024).standard_normal((1, 4, 16, 16)).astype(np.float32)
    with tempfile.TemporaryDirectory() as d:
        folder = os.path.join(d, "sd2-style")
        shutil.copytree(TINY, folder, ignore=shutil.ignore_patterns("reference", "unet-fused", "README.md"))
        for path, cfg in configs.items():
            with open(os.path.join(folder, path), "w") as f:
                json.dump(cfg, f, indent=2)
        # diffusers' OnnxStableDiffusionPipeline cannot run Euler (it multiplies its numpy latents by
        # the scheduler's tensor init_noise_sigma and fails), so this follows the loop of the torch
        # StableDiffusionPipeline.__call__ step by step, with the ONNX graphs in place of the torch
        # modules and diffusers' own tokenizer and scheduler classes loaded from the folder
        tokenizer = CLIPTokenizer.from_pretrained(folder, subfolder="tokenizer")
        scheduler = EulerDiscreteScheduler.from_pretrained(folder, subfolder="scheduler")
        sessions = {name: onnxruntime.InferenceSession(os.path.join(folder, name, "model.onnx"),
                                                       providers=["CPUExecutionProvider"])
                    for name in ("text_encoder", "unet", "vae_decoder")}

        def encode(text):
            ids = tokenizer(text, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                            return_tensors="np").input_ids
            return ids[0].tolist(), sessions["text_encoder"].run(None, {"input_ids": ids.astype(np.int32)})[0]

        ids, cond = encode(prompt)
        uncond_ids, uncond = encode("")
        prompt_embeds = np.concatenate([uncond, cond])
        scheduler.set_timesteps(steps)
        latents = torch.from_numpy(latents0) * scheduler.init_noise_sigma
        steps_seen = []
        for t in scheduler.timesteps:
            model_input = scheduler.scale_model_input(torch.cat([latents] * 2), t)
            noise = sessions["unet"].run(None, {"sample": model_input.numpy(),
                                                 "timestep": np.array([t, t], dtype=np.float32),
                                                 "encoder_hidden_states": prompt_embeds})[0]
            noise_uncond, noise_text = torch.from_numpy(noise).chunk(2)
            noise_pred = noise_uncond + guidance * (noise_text - noise_uncond)
            latents = scheduler.step(noise_pred, t, latents).prev_sample
            steps_seen.append((float(t), latents.numpy().astype(np.float32)))
        vae_input = (latents / 0.18215).numpy()
        decoded = sessions["vae_decoder"].run(None, {"latent_sample": vae_input})[0]
        image = np.clip(decoded / 2 + 0.5, 0, 1).transpose(0, 2, 3, 1).astype(np.float32)
    latents = latents0
    for path, cfg in configs.items():
        os.makedirs(os.path.dirname(os.path.join(NODE_OUT, path)) or NODE_OUT, exist_ok=True)
        with open(os.path.join(NODE_OUT, path), "w") as f:
            json.dump(cfg, f, indent=2)
    latents.tofile(os.path.join(NODE_OUT, "init_latents.bin"))
    np.stack([lat for _, lat in steps_seen]).astype(np.float32).tofile(os.path.join(NODE_OUT, "latents.bin"))
    image.tofile(os.path.join(NODE_OUT, "image.bin"))
    with open(os.path.join(NODE_OUT, "run.json"), "w") as f:
        json.dump({
            "provenance": provenance(),
            "how": "StableDiffusionPipeline's denoising loop (see write_sd2_style_run in "
                   "src/core/diffusers/__fixtures__/make_fixtures.py) with onnxruntime (CPU) running the graphs of a "
                   "copy of ../shared/fixtures/tiny-sd1 whose model_index.json, scheduler/scheduler_config.json and "
                   "tokenizer configs were replaced by the files here (Stable Diffusion 2's Euler v-prediction "
                   "scheduler, padding with '!'), diffusers' EulerDiscreteScheduler and transformers' "
                   "CLIPTokenizer loaded from that folder; latents given (standard normal, multiplied by "
                   "init_noise_sigma); the latents recorded after every step",
            "prompt": prompt, "negativePrompt": None, "steps": steps, "guidance": guidance,
            "inputIds": ids, "uncondInputIds": uncond_ids,
            "timesteps": [t for t, _ in steps_seen], "initNoiseSigma": float(scheduler.init_noise_sigma),
            "tensors": {"init_latents.bin": list(latents.shape),
                        "latents.bin": [len(steps_seen), *latents.shape],
                        "image.bin": list(image.shape)},
            "format": "raw little-endian float32, C order; image.bin is NHWC in [0, 1] (output_type np)",
        }, f, indent=1)


def write_fast_tokenizer():
    from transformers import CLIPTokenizerFast

    out = os.path.join(CORE_OUT, "fast-tokenizer")
    tokenizer = CLIPTokenizerFast.from_pretrained(os.path.join(TINY, "tokenizer"))
    with tempfile.TemporaryDirectory() as d:
        tokenizer.save_pretrained(d)
        os.makedirs(out, exist_ok=True)
        for name in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(os.path.join(d, name), os.path.join(out, name))
    with open(os.path.join(TINY, "reference", "tokens.json")) as f:
        prompts = [p["prompt"] for p in json.load(f)["prompts"]]
    ids = [tokenizer(p, padding="max_length", max_length=77, truncation=True).input_ids for p in prompts]
    with open(os.path.join(out, "ids.json"), "w") as f:
        json.dump({"provenance": provenance(), "tokenizer": type(tokenizer).__name__,
                   "call": 'tokenizer(prompt, padding="max_length", max_length=77, truncation=True).input_ids',
                   "prompts": [{"prompt": p, "input_ids": i} for p, i in zip(prompts, ids)]}, f, ensure_ascii=False)


if __name__ == "__main__":
    torch.manual_seed(0)
    write_scheduler_traces()
    write_fast_tokenizer()
    write_sd2_style_run()

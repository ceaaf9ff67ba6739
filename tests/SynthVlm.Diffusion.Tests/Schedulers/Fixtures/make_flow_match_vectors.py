#!/usr/bin/env python3
"""Reference vectors for the C# FlowMatchEulerDiscreteScheduler (Stable Diffusion 3), from diffusers' own file.

Runs the UNMODIFIED src/diffusers/schedulers/scheduling_flow_match_euler_discrete.py of huggingface/diffusers at
commit 58eb52c0803ea9af3abec60841c2a093bdf1f951 (its git blob id is checked), with the same minimal stand-ins for
diffusers' config/logging plumbing that make_scheduler_vectors.py (next to this file) defines and documents; that
module is imported for them. Writes flow_match_vectors.json next to this script.

Cases: SD3 medium's config (shift 3.0) at 28 steps (the SD3 default) and at 1, 2, 5, 50, 1000 steps; shift 1.0
(no shift) and a fractional shift; num_train_timesteps != 1000; an img2img start (set_begin_index + scale_noise,
as diffusers' SD3 img2img pipeline calls them). Model outputs and noises are fixed arrays (below).

Usage (Debian python with torch 1.13 + numpy):
    DIFFUSERS_SRC=/path/to/diffusers-checkout   /usr/bin/python3 make_flow_match_vectors.py
DIFFUSERS_SRC may also be a bare git directory holding the pinned commit (files are read with `git show`),
e.g. the `fetch` tool's mirror of github:huggingface/diffusers.
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_scheduler_vectors as base  # noqa: E402  (stand-ins, source loader, fixed inputs)

NAME = "scheduling_flow_match_euler_discrete"
base.FILES[NAME] = "0e4f5c6a1f97c48be6f05f6b4a671cf5ce1028a8"
CLS = "FlowMatchEulerDiscreteScheduler"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "flow_match_vectors.json")
SD3 = dict(num_train_timesteps=1000, shift=3.0)
f32, short = base.f32, base.short


def run_case(module, config, steps, strength=None):
    scheduler = getattr(module, CLS)(**config)
    scheduler.set_timesteps(steps)
    timesteps = scheduler.timesteps
    begin = None
    latents = torch.from_numpy(base.initial_noise())
    image = None
    if strength is not None:
        # diffusers' SD3 img2img: t_start = int(max(n - min(n*strength, n), 0)); set_begin_index(t_start);
        # latents = scale_noise(image_latents, timesteps[t_start:t_start+1], noise).
        begin = int(max(steps - min(steps * strength, steps), 0))
        scheduler.set_begin_index(begin)
        image = torch.from_numpy(base.model_output(99) * np.float32(1.7))
        latents = scheduler.scale_noise(image, timesteps[begin:begin + 1], latents)
    start = begin or 0
    record = []
    for k, t in enumerate(timesteps[start:]):
        idx = start + k
        v = torch.from_numpy(base.model_output(idx))
        latents = scheduler.step(v, t, latents).prev_sample
        record.append({"index": idx, "timestep": short(float(t)), "model_output": f32(v), "prev_sample": f32(latents)})
    return {"class": CLS, "config": config, "steps": steps, "begin_index": begin,
            "image": None if image is None else f32(image), "initial_noise": f32(base.initial_noise()),
            "timesteps": f32(timesteps), "sigmas": f32(scheduler.sigmas), "trajectory": record}


def noised_start(module, config, steps, strength):
    scheduler = getattr(module, CLS)(**config)
    scheduler.set_timesteps(steps)
    begin = int(max(steps - min(steps * strength, steps), 0))
    scheduler.set_begin_index(begin)
    image = torch.from_numpy(base.model_output(99) * np.float32(1.7))
    noise = torch.from_numpy(base.initial_noise())
    return f32(scheduler.scale_noise(image, scheduler.timesteps[begin:begin + 1], noise))


def main():
    base.install_stand_ins()
    module = base.load(NAME)
    runs = {
        "sd3_28": run_case(module, dict(SD3), 28),
        "sd3_5": run_case(module, dict(SD3), 5),
        "sd3_1": run_case(module, dict(SD3), 1),
        "shift1_10": run_case(module, dict(num_train_timesteps=1000, shift=1.0), 10),
        "shift_2_5_train_500_12": run_case(module, dict(num_train_timesteps=500, shift=2.5), 12),
        "sd3_img2img_20_strength_0_6": run_case(module, dict(SD3), 20, strength=0.6),
    }
    runs["sd3_img2img_20_strength_0_6"]["noised_start"] = noised_start(module, dict(SD3), 20, 0.6)
    schedules = []
    for steps in (1, 2, 3, 7, 28, 50, 1000):
        for shift in (1.0, 3.0, 1.7):
            cfg = dict(num_train_timesteps=1000, shift=shift)
            s = getattr(module, CLS)(**cfg)
            s.set_timesteps(steps)
            schedules.append({"class": CLS, "config": cfg, "steps": steps,
                              "timesteps": f32(s.timesteps), "sigmas": f32(s.sigmas)})
    doc = {
        "description": "diffusers' FlowMatchEulerDiscreteScheduler run unmodified (stand-ins for config/logging "
                       "plumbing only) on torch CPU with fixed model outputs. Regenerate with make_flow_match_vectors.py.",
        "source": {"repo": "huggingface/diffusers", "commit": base.COMMIT, "files": {NAME: base.FILES[NAME]},
                   "torch": torch.__version__, "numpy": np.__version__},
        "protocol": "latents0 = initial_noise (init_noise_sigma is 1; SD3 does not scale); img2img runs: "
                    "set_begin_index(begin_index), latents0 = scale_noise(image, timesteps[begin_index], initial_noise) "
                    "(= noised_start); for each remaining timestep t: prev_sample = step(model_output, t, latents). "
                    "The model input is the latents unscaled.",
        "runs": runs,
        "schedules": schedules,
    }
    with open(OUT, "w") as f:
        json.dump(doc, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {OUT}: {len(runs)} runs, {len(schedules)} schedules")


if __name__ == "__main__":
    main()

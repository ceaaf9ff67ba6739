#!/usr/bin/env python3
"""Reference values for the SDXL refiner used as img2img (the SynthVLM script's refiner call), from diffusers' own code.

What the official SynthVLM script does (github.com/starriver030515/SynthVLM, commit
3618f52d975ef4d2df7b244f36987cade1da365b, diffusions/img_from_sdxl.py with configs/stable_diffusion_xl.json):
the base runs with denoising_end=high_noise_frac (0.8) and output_type="latent"; the refiner
(StableDiffusionXLImg2ImgPipeline) is then called with image=<those latents>, num_inference_steps=n_steps (60),
denoising_end=high_noise_frac (0.8), guidance_scale 20 and no strength argument, so its default 0.3 applies.

This script runs, UNMODIFIED, the parts of huggingface/diffusers' StableDiffusionXLImg2ImgPipeline that decide the
refiner's schedule and starting latents (src/diffusers/pipelines/stable_diffusion_xl/pipeline_stable_diffusion_xl_img2img.py,
git blob checked): the methods get_timesteps and prepare_latents, and, from __call__, the nested function
denoising_value_valid and the "9.1 Apply denoising_end" if-statement. They are cut out of the file with `ast` and
executed against a stand-in `self` whose scheduler is diffusers' own EulerDiscreteScheduler / DPMSolverMultistepScheduler
(loaded unmodified by make_scheduler_vectors.py's loader) and whose VAE config has scaling_factor and no latents_mean
(SDXL's). image is a 4-channel latent tensor, as in the script, so prepare_latents takes its "image.shape[1] == 4"
branch (no VAE encode). randn_tensor is a stand-in that does what diffusers' randn_tensor does for a list of CPU
generators: one torch.randn of shape (1, ...) per item from that item's generator. The only line written here rather
than cut out is latent_timestep = timesteps[:1].

Usage (Debian python with torch 1.13 + numpy):
    DIFFUSERS_SRC=/path/to/diffusers-checkout-or-bare-git-dir  /usr/bin/python3 make_img2img_reference.py
Commit: 58eb52c0803ea9af3abec60841c2a093bdf1f951 (as make_scheduler_vectors.py). diffusers v0.29.2 (the release of
July 2024, when the SynthVLM script was written) differs only in not calling scheduler.set_begin_index in
get_timesteps; its add_noise then looks the first timestep up in the schedule, which gives the same index for these
schedules (no repeated timesteps). Writes img2img_reference.json next to this script.
"""
import ast
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import types

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("make_scheduler_vectors", os.path.join(HERE, "make_scheduler_vectors.py"))
msv = importlib.util.module_from_spec(spec)
spec.loader.exec_module(msv)

PIPELINE = "src/diffusers/pipelines/stable_diffusion_xl/pipeline_stable_diffusion_xl_img2img.py"
PIPELINE_BLOB = "c7a13ca025244d577469e641546b1dbad7e64aee"
OUT = os.path.join(HERE, "img2img_reference.json")


def read_pipeline():
    root = os.environ.get("DIFFUSERS_SRC")
    if not root:
        sys.exit("set DIFFUSERS_SRC to a diffusers checkout (or bare git dir) at " + msv.COMMIT)
    if os.path.isfile(os.path.join(root, PIPELINE)):
        data = open(os.path.join(root, PIPELINE), "rb").read()
    else:
        data = subprocess.check_output(["git", f"--git-dir={root}", "show", f"{msv.COMMIT}:{PIPELINE}"])
    blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    if blob != PIPELINE_BLOB:
        sys.exit(f"{PIPELINE}: blob {blob} is not the pinned {PIPELINE_BLOB}; refusing to use it")
    return data.decode("utf-8")


def randn_tensor(shape, generator=None, device=None, dtype=None, layout=None):
    # diffusers.utils.torch_utils.randn_tensor for a list of CPU generators.
    assert isinstance(generator, list) and len(generator) == shape[0]
    item = (1,) + tuple(shape[1:])
    return torch.cat([torch.randn(item, generator=g, dtype=dtype) for g in generator], dim=0)


def extract(source):
    """get_timesteps, prepare_latents, denoising_value_valid and the denoising_end if-statement, unmodified."""
    tree = ast.parse(source)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "StableDiffusionXLImg2ImgPipeline")
    methods = {n.name: n for n in cls.body if isinstance(n, ast.FunctionDef)}
    env = {"torch": torch, "randn_tensor": randn_tensor, "empty_device_cache": lambda: None,
           "retrieve_latents": None, "PIL": types.SimpleNamespace(Image=types.SimpleNamespace(Image=type(None)))}
    for name in ("get_timesteps", "prepare_latents"):
        exec(compile(textwrap.dedent(ast.get_source_segment(source, methods[name], padded=True)), PIPELINE, "exec"), env)
    call = methods["__call__"]
    valid = next(n for n in ast.walk(call) if isinstance(n, ast.FunctionDef) and n.name == "denoising_value_valid")
    exec(compile(textwrap.dedent(ast.get_source_segment(source, valid, padded=True)), PIPELINE, "exec"), env)
    cut = next(n for n in call.body if isinstance(n, ast.If) and "self.denoising_end" in ast.get_source_segment(source, n.test))
    env["apply_denoising_end"] = compile(textwrap.dedent(ast.get_source_segment(source, cut, padded=True)), PIPELINE, "exec")
    return env


class StandInPipeline:
    def __init__(self, scheduler, denoising_start, denoising_end):
        self.scheduler = scheduler
        self.vae = types.SimpleNamespace(config=types.SimpleNamespace(scaling_factor=0.13025, force_upcast=True))
        self.final_offload_hook = None
        self.denoising_start = denoising_start
        self.denoising_end = denoising_end


def base_latents(batch, per_item):
    # The base's output latents (what output_type="latent" hands over), a smooth fixed pattern.
    i = np.arange(batch * per_item)
    return np.float32(np.sin(0.23 * i + 0.4) * 0.9 + 0.1 * np.cos(1.7 * i))


SHAPE = (2, 4, 3, 5)  # per item 60 values: torch's 16-block path with a redrawn last block


def run_case(env, module, cls, config, steps, strength, denoising_end, seeds):
    scheduler = getattr(module, cls)(**config)
    pipe = StandInPipeline(scheduler, None, denoising_end)
    # retrieve_timesteps with num_inference_steps: set_timesteps, and num_inference_steps stays the requested count.
    scheduler.set_timesteps(steps)
    full = scheduler.timesteps.clone()
    timesteps, n = env["get_timesteps"](pipe, steps, strength, "cpu", denoising_start=None)
    begin_index = getattr(scheduler, "begin_index", None)
    record = {"class": cls, "config": config, "steps": steps, "strength": strength, "denoising_end": denoising_end,
              "seeds": seeds, "schedule": msv.f32(full.float()), "begin_index": begin_index,
              "img2img_timesteps": msv.f32(timesteps.float()), "img2img_steps": n}
    if len(timesteps) == 0:
        record["error"] = "no timesteps (int(steps * strength) == 0)"
        return record
    latent_timestep = timesteps[:1].repeat(SHAPE[0])
    init = torch.from_numpy(base_latents(SHAPE[0], int(np.prod(SHAPE[1:])))).reshape(SHAPE)
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    latents = env["prepare_latents"](pipe, init, latent_timestep, SHAPE[0], 1, torch.float32, "cpu", generators, True)
    scope = {"self": pipe, "timesteps": timesteps, "num_inference_steps": n, "denoising_value_valid": env["denoising_value_valid"]}
    exec(env["apply_denoising_end"], scope)
    record.update({"base_latents": msv.f32(init), "noised_latents": msv.f32(latents),
                   "latent_timestep": float(latent_timestep[0]),
                   "run_timesteps": msv.f32(scope["timesteps"].float()), "run_steps": scope["num_inference_steps"]})
    return record


def main():
    msv.install_stand_ins()
    eu = msv.load("scheduling_euler_discrete")
    dpm = msv.load("scheduling_dpmsolver_multistep")
    env = extract(read_pipeline())
    EU, DPM, SDXL = "EulerDiscreteScheduler", "DPMSolverMultistepScheduler", msv.SDXL
    cases = {
        # The SynthVLM script: 60 steps, strength 0.3 (default), denoising_end 0.8 passed to the refiner too.
        "synthvlm_script_60": run_case(env, eu, EU, dict(SDXL), 60, 0.3, 0.8, [11, 12]),
        "euler_60_no_cut": run_case(env, eu, EU, dict(SDXL), 60, 0.3, None, [11, 12]),
        "euler_30_strength_03_cut_08": run_case(env, eu, EU, dict(SDXL), 30, 0.3, 0.8, [3, 4]),
        # 7 * 0.7 = 4.8999999999999995 in float64: int() truncates to 4.
        "euler_7_strength_07_truncation": run_case(env, eu, EU, dict(SDXL), 7, 0.7, None, [5, 6]),
        "euler_10_strength_1": run_case(env, eu, EU, dict(SDXL), 10, 1.0, None, [7, 8]),
        # Strength 0.2 of 60 starts below the 0.8 cutoff: noise is added, then no refiner step runs.
        "euler_60_strength_02_cut_08_zero_steps": run_case(env, eu, EU, dict(SDXL), 60, 0.2, 0.8, [9, 10]),
        "euler_trailing_61_strength_05": run_case(env, eu, EU, dict(SDXL, timestep_spacing="trailing"), 61, 0.5, 0.8, [13, 14]),
        "dpmpp_2m_25_strength_03_cut_08": run_case(env, dpm, DPM, dict(SDXL), 25, 0.3, 0.8, [15, 16]),
        "euler_10_strength_005_empty": run_case(env, eu, EU, dict(SDXL), 10, 0.05, None, [1, 2]),
    }
    doc = {
        "description": "StableDiffusionXLImg2ImgPipeline's get_timesteps, prepare_latents (4-channel image: no VAE encode) "
                       "and denoising_end cut, run unmodified on torch CPU. Regenerate with make_img2img_reference.py.",
        "source": {"repo": "huggingface/diffusers", "commit": msv.COMMIT, "pipeline": {PIPELINE: PIPELINE_BLOB},
                   "schedulers": msv.FILES, "torch": torch.__version__, "numpy": np.__version__},
        "synthvlm": {"repo": "starriver030515/SynthVLM", "commit": "3618f52d975ef4d2df7b244f36987cade1da365b",
                     "file": "diffusions/img_from_sdxl.py"},
        "shape": list(SHAPE),
        "cases": cases,
    }
    with open(OUT, "w") as f:
        json.dump(doc, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {OUT}: {len(cases)} cases")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Reference vectors for the C# EulerAncestral and DPM-Solver(++) schedulers, from diffusers' own files.

Runs the UNMODIFIED scheduler sources of huggingface/diffusers at the pinned commit (their git blob ids are
checked) with minimal stand-ins for diffusers' config/logging plumbing: ConfigMixin/register_to_config
(records the constructor arguments, defaults included, as attributes of self.config), BaseOutput, a logger,
deprecate (no-op), and randn_tensor, which returns the explicit noise the case supplies, so the C# side can feed
the same values. Writes scheduler_vectors.json next to this script.

Usage (Debian python with torch 1.13 + numpy):
    DIFFUSERS_SRC=/path/to/diffusers-checkout   /usr/bin/python3 make_scheduler_vectors.py
DIFFUSERS_SRC may also be a bare git directory holding the pinned commit (files are read with `git show`).
"""
import enum
import hashlib
import importlib.util
import inspect
import json
import logging as std_logging
import os
import subprocess
import sys
import types
from dataclasses import dataclass

import numpy as np
import torch

COMMIT = "58eb52c0803ea9af3abec60841c2a093bdf1f951"
FILES = {
    # module name: git blob id at COMMIT
    "scheduling_euler_ancestral_discrete": "8ad6abd90668670fc9834825a45ecf039263aa9d",
    "scheduling_dpmsolver_multistep": "edcfa4576e53e38715734cfc3be75c623fdbba8a",
    "scheduling_euler_discrete": "eac6efe18aaf775b846e7536fd972686d3ec9683",
}
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scheduler_vectors.json")

SDXL = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
            steps_offset=1, timestep_spacing="leading", prediction_type="epsilon")


def read_source(name):
    root = os.environ.get("DIFFUSERS_SRC")
    if not root:
        sys.exit("set DIFFUSERS_SRC to a diffusers checkout (or bare git dir) at " + COMMIT)
    rel = f"src/diffusers/schedulers/{name}.py"
    if os.path.isfile(os.path.join(root, rel)):
        data = open(os.path.join(root, rel), "rb").read()
    else:
        data = subprocess.check_output(["git", f"--git-dir={root}", "show", f"{COMMIT}:{rel}"])
    blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    if blob != FILES[name]:
        sys.exit(f"{rel}: blob {blob} is not the pinned {FILES[name]} (commit {COMMIT}); refusing to use it")
    return data.decode("utf-8")


# ---- stand-ins for diffusers' plumbing -------------------------------------------------------------------
class _Config:
    pass


def register_to_config(init):
    sig = inspect.signature(init)

    def wrapper(self, *args, **kwargs):
        bound = sig.bind(self, *args, **kwargs)
        bound.apply_defaults()
        cfg = _Config()
        for k, v in bound.arguments.items():
            if k != "self":
                setattr(cfg, k, v)
        self.config = cfg
        init(self, *args, **kwargs)

    return wrapper


class ConfigMixin:
    def register_to_config(self, **kwargs):
        for k, v in kwargs.items():
            setattr(self.config, k, v)


class BaseOutput:
    pass


class SchedulerMixin:
    pass


@dataclass
class SchedulerOutput(BaseOutput):
    prev_sample: torch.Tensor


KarrasDiffusionSchedulers = enum.Enum("KarrasDiffusionSchedulers", "EulerDiscreteScheduler EulerAncestralDiscreteScheduler DPMSolverMultistepScheduler")

NOISE_QUEUE = []


def randn_tensor(shape, generator=None, device=None, dtype=None, layout=None):
    value = NOISE_QUEUE.pop(0)
    return torch.tensor(value, dtype=dtype or torch.float32).reshape(shape)


def install_stand_ins():
    pkg = types.ModuleType("diffusers"); pkg.__path__ = []
    sched = types.ModuleType("diffusers.schedulers"); sched.__path__ = []
    cfg = types.ModuleType("diffusers.configuration_utils")
    cfg.ConfigMixin, cfg.register_to_config = ConfigMixin, register_to_config
    utils = types.ModuleType("diffusers.utils"); utils.__path__ = []
    utils.BaseOutput = BaseOutput
    utils.logging = types.SimpleNamespace(get_logger=std_logging.getLogger)
    utils.deprecate = lambda *a, **k: None
    utils.is_scipy_available = lambda: importlib.util.find_spec("scipy") is not None
    tu = types.ModuleType("diffusers.utils.torch_utils"); tu.randn_tensor = randn_tensor
    su = types.ModuleType("diffusers.schedulers.scheduling_utils")
    su.KarrasDiffusionSchedulers, su.SchedulerMixin, su.SchedulerOutput = KarrasDiffusionSchedulers, SchedulerMixin, SchedulerOutput
    for m in (pkg, sched, cfg, utils, tu, su):
        sys.modules[m.__name__] = m


def load(name):
    full = f"diffusers.schedulers.{name}"
    module = types.ModuleType(full)
    module.__package__ = "diffusers.schedulers"
    module.__file__ = f"src/diffusers/schedulers/{name}.py"
    sys.modules[full] = module
    exec(compile(read_source(name), module.__file__, "exec"), module.__dict__)
    return module


# ---- fixed inputs -------------------------------------------------------------------------------------------
N = 21  # odd: covers the SIMD body and the scalar tail in C#


def short(v):
    # The shortest decimal that round-trips the float32 value (e.g. 0.3, not 0.30000001192092896): exact when the
    # reader parses it as a double and rounds to float32, and half the size.
    return float(repr(np.float32(v)))


def f32(values):
    return [short(v) for v in np.asarray(values, dtype=np.float32).reshape(-1)]


def initial_noise():
    i = np.arange(N)
    return np.float32(np.sin(0.7 * i + 0.3) * 1.3)


def model_output(step):
    # A smooth, step-dependent stand-in for a UNet prediction (values of order 1).
    i = np.arange(N)
    return np.float32(np.cos(0.37 * i - 0.11 * step) * (0.9 - 0.01 * step) + 0.05 * np.sin(1.3 * i * (step + 1)))


def step_noise(step):
    i = np.arange(N)
    return np.float32(np.sin(2.1 * i + 0.9 * step + 0.5) * 1.1)


def run_case(module, cls, config, steps, begin_index=None, stochastic=False, sde=False):
    scheduler = getattr(module, cls)(**config)
    scheduler.set_timesteps(steps)
    if begin_index is not None:
        scheduler.set_begin_index(begin_index)
    timesteps = scheduler.timesteps
    sigmas = scheduler.sigmas
    init_sigma = float(scheduler.init_noise_sigma)
    latents = torch.from_numpy(initial_noise()) * scheduler.init_noise_sigma
    latents = latents.to(torch.float32)
    start = begin_index or 0
    record = []
    for k, t in enumerate(timesteps[start:]):
        idx = start + k
        scaled = scheduler.scale_model_input(latents, t)
        eps = torch.from_numpy(model_output(idx))
        noise = step_noise(idx)
        kwargs = {}
        if stochastic:
            NOISE_QUEUE.append(noise)
        if sde:
            kwargs["variance_noise"] = torch.from_numpy(noise)
        out = scheduler.step(eps, t, latents, **kwargs)
        assert not NOISE_QUEUE, "randn_tensor was not called exactly once"
        latents = out.prev_sample
        record.append({"index": idx, "timestep": short(float(t)), "scaled_input": f32(scaled),
                       "model_output": f32(eps), "noise": f32(noise) if (stochastic or sde) else None,
                       "prev_sample": f32(latents)})
    return {"class": cls, "config": config, "steps": steps, "begin_index": begin_index,
            "timesteps": f32(timesteps.float()), "sigmas": f32(sigmas), "init_noise_sigma": short(init_sigma), "initial_noise": f32(initial_noise()),
            "initial_latents": f32(torch.from_numpy(initial_noise()) * scheduler.init_noise_sigma), "trajectory": record}


def schedule_only(module, cls, config, steps):
    scheduler = getattr(module, cls)(**config)
    scheduler.set_timesteps(steps)
    return {"class": cls, "config": config, "steps": steps, "timesteps": f32(scheduler.timesteps.float()),
            "sigmas": f32(scheduler.sigmas), "init_noise_sigma": short(float(scheduler.init_noise_sigma))}


def main():
    install_stand_ins()
    ea = load("scheduling_euler_ancestral_discrete")
    dpm = load("scheduling_dpmsolver_multistep")
    eu = load("scheduling_euler_discrete")
    EA, DPM, EU = "EulerAncestralDiscreteScheduler", "DPMSolverMultistepScheduler", "EulerDiscreteScheduler"
    runs = {
        "euler_a_sdxl_30": run_case(ea, EA, dict(SDXL), 30, stochastic=True),
        "euler_a_sdxl_linspace_v_12": run_case(ea, EA, dict(SDXL, timestep_spacing="linspace", prediction_type="v_prediction"), 12, stochastic=True),
        "euler_a_trailing_refiner_10_from_6": run_case(ea, EA, dict(SDXL, timestep_spacing="trailing"), 10, begin_index=6, stochastic=True),
        "dpmpp_2m_sdxl_30": run_case(dpm, DPM, dict(SDXL), 30),
        "dpmpp_2m_karras_sdxl_30": run_case(dpm, DPM, dict(SDXL, use_karras_sigmas=True), 30),
        "dpmpp_2m_karras_sdxl_10": run_case(dpm, DPM, dict(SDXL, use_karras_sigmas=True), 10),
        "dpmpp_2m_sdxl_8_sigma_min": run_case(dpm, DPM, dict(SDXL, final_sigmas_type="sigma_min"), 8),
        "dpmpp_2m_trailing_heun_v_12": run_case(dpm, DPM, dict(SDXL, timestep_spacing="trailing", solver_type="heun", prediction_type="v_prediction"), 12),
        "dpmpp_3m_linspace_sample_16": run_case(dpm, DPM, dict(SDXL, timestep_spacing="linspace", solver_order=3, prediction_type="sample", lower_order_final=False, final_sigmas_type="sigma_min"), 16),
        "dpmpp_3m_karras_sdxl_12": run_case(dpm, DPM, dict(SDXL, solver_order=3, use_karras_sigmas=True), 12),
        "dpmpp_1_sdxl_6": run_case(dpm, DPM, dict(SDXL, solver_order=1), 6),
        "sde_dpmpp_2m_karras_14": run_case(dpm, DPM, dict(SDXL, algorithm_type="sde-dpmsolver++", use_karras_sigmas=True), 14, sde=True),
        "sde_dpmpp_3m_heun_12": run_case(dpm, DPM, dict(SDXL, algorithm_type="sde-dpmsolver++", solver_order=3, solver_type="heun"), 12, sde=True),
        "dpmpp_2m_sdxl_30_from_23": run_case(dpm, DPM, dict(SDXL), 30, begin_index=23),
        "dpmpp_2m_euler_at_final_20": run_case(dpm, DPM, dict(SDXL, euler_at_final=True, final_sigmas_type="sigma_min"), 20),
    }
    schedules = []
    for steps in (1, 2, 3, 7, 25, 61):
        for spacing in ("leading", "trailing", "linspace"):
            for karras in (False, True):
                cfg = dict(SDXL, timestep_spacing=spacing, use_karras_sigmas=karras)
                schedules.append(schedule_only(dpm, DPM, cfg, steps))
                schedules.append(schedule_only(eu, EU, cfg, steps))
            schedules.append(schedule_only(ea, EA, dict(SDXL, timestep_spacing=spacing), steps))
    for schedule in ("linear", "squaredcos_cap_v2"):
        for karras in (False, True):
            cfg = dict(num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02, beta_schedule=schedule, use_karras_sigmas=karras)
            schedules.append(schedule_only(dpm, DPM, cfg, 20))
            schedules.append(schedule_only(eu, EU, cfg, 20))
    schedules.append(schedule_only(dpm, DPM, dict(SDXL, lambda_min_clipped=-5.1), 20))
    schedules.append(schedule_only(eu, EU, dict(SDXL, use_karras_sigmas=True, sigma_min=0.1, sigma_max=10.0), 20))
    schedules.append(schedule_only(eu, EU, dict(SDXL, final_sigmas_type="sigma_min"), 20))
    doc = {
        "description": "diffusers schedulers run unmodified (stand-ins for config/logging plumbing only) on torch CPU; "
                       "fixed model outputs and explicit noise. Regenerate with make_scheduler_vectors.py.",
        "source": {"repo": "huggingface/diffusers", "commit": COMMIT, "files": FILES,
                   "torch": torch.__version__, "numpy": np.__version__},
        "protocol": "latents0 = initial_noise * init_noise_sigma (float32); optional set_begin_index; for each "
                    "remaining timestep: scaled_input = scale_model_input(latents); prev_sample = step(model_output, t, "
                    "latents) with the listed noise as randn_tensor's result (Euler ancestral) or variance_noise (SDE).",
        "runs": runs,
        "schedules": schedules,
    }
    with open(OUT, "w") as f:
        json.dump(doc, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {OUT}: {len(runs)} runs, {len(schedules)} schedules")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Tiny PyTorch SDXL-contract UNet + VAE decoder, exported to ONNX, and a reference denoising loop.

Writes, next to this script:
  model/  model_index.json, scheduler/scheduler_config.json, unet/model.onnx,
          vae_decoder/model.onnx + config.json (the test adds text encoders/tokenizers from the tiny base,
          which GenerateFromEmbeddings never runs)
  parity.json  shapes and settings;  *.bin  little-endian float32 arrays (inputs and expected outputs)

The reference loop is diffusers' StableDiffusionXLPipeline.__call__ for the base, written out step by step
(prepare_latents: latents * init_noise_sigma; per step: cat([latents]*2), scale_model_input, unet on
[uncond; cond], noise_pred = uncond + g*(cond - uncond), scheduler.step; then latents / scaling_factor,
vae decode, (x/2+0.5).clamp(0,1)), with the scheduler being diffusers' UNMODIFIED scheduling_euler_discrete.py
at the pinned commit, loaded through the stand-ins of ../../Schedulers/Fixtures/make_scheduler_vectors.py.

Usage: DIFFUSERS_SRC=/work/.mirror/huggingface+diffusers/repo /usr/bin/python3 make_unet_vae_fixture.py
(Debian torch 1.13, onnx 1.12; CPU; deterministic.)
"""
import importlib.util
import json
import math
import os
import sys

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "model")
os.environ.setdefault("DIFFUSERS_SRC", "/work/.mirror/huggingface+diffusers/repo")

BATCH, CH, H, W = 2, 4, 16, 16
CTX, D, P = 77, 32, 16
STEPS, GUIDANCE, SCALING = 4, 5.0, 0.13025
SCHEDULER = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                 steps_offset=1, timestep_spacing="leading", prediction_type="epsilon", interpolation_type="linear",
                 use_karras_sigmas=False, clip_sample=False, sample_max_value=1.0, set_alpha_to_one=False,
                 skip_prk_steps=True, trained_betas=None)


def sinusoid(x, dim):
    """diffusers-style get_timestep_embedding (flip_sin_to_cos, shift 0) of a 1-D tensor."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = x.float()[:, None] * freqs[None, :]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class TinyUnet(nn.Module):
    """Uses every SDXL UNet input: conv on sample, sinusoidal timestep embedding, sinusoidal time_ids
    embedding concatenated with text_embeds (SDXL's add_embedding), cross-attention over encoder_hidden_states."""

    def __init__(self, hidden=16):
        super().__init__()
        self.hidden = hidden
        self.conv_in = nn.Conv2d(CH, hidden, 3, padding=1)
        self.time = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.add = nn.Sequential(nn.Linear(6 * 8 + P, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.q = nn.Linear(hidden, hidden)
        self.k = nn.Linear(D, hidden)
        self.v = nn.Linear(D, hidden)
        self.o = nn.Linear(hidden, hidden)
        self.conv_out = nn.Conv2d(hidden, CH, 3, padding=1)

    def forward(self, sample, timestep, encoder_hidden_states, text_embeds, time_ids):
        b = sample.shape[0]
        t = timestep.reshape(1).expand(b)
        emb = self.time(sinusoid(t, self.hidden))
        ids = sinusoid(time_ids.reshape(-1), 8).reshape(b, -1)
        emb = emb + self.add(torch.cat([text_embeds, ids], dim=-1))
        x = nn.functional.silu(self.conv_in(sample) + emb[:, :, None, None])
        hh, ww = x.shape[2], x.shape[3]
        tokens = x.flatten(2).transpose(1, 2)  # [B, hw, C]
        q, k, v = self.q(tokens), self.k(encoder_hidden_states), self.v(encoder_hidden_states)
        attn = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(self.hidden), dim=-1)
        tokens = tokens + self.o(attn @ v)
        x = tokens.transpose(1, 2).reshape(b, self.hidden, hh, ww)
        return self.conv_out(nn.functional.silu(x))


class TinyVaeDecoder(nn.Module):
    def __init__(self, hidden=8):
        super().__init__()
        self.conv_in = nn.Conv2d(CH, hidden, 3, padding=1)
        self.ups = nn.ModuleList([nn.Conv2d(hidden, hidden, 3, padding=1) for _ in range(3)])
        self.conv_out = nn.Conv2d(hidden, 3, 3, padding=1)

    def forward(self, latent_sample):
        x = self.conv_in(latent_sample)
        for conv in self.ups:
            x = conv(nn.functional.silu(nn.functional.interpolate(x, scale_factor=2.0, mode="nearest")))
        # tanh keeps most pixels inside (-1, 1) so the clamp does not hide differences.
        return torch.tanh(self.conv_out(nn.functional.silu(x)))


def load_euler():
    path = os.path.join(HERE, "..", "..", "Schedulers", "Fixtures", "make_scheduler_vectors.py")
    spec = importlib.util.spec_from_file_location("make_scheduler_vectors", path)
    helper = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helper)
    helper.install_stand_ins()
    return helper.load("scheduling_euler_discrete").EulerDiscreteScheduler


def save(name, tensor):
    np.asarray(tensor.detach().numpy(), dtype="<f4").tofile(os.path.join(HERE, name))


def write_json(path, value):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(value, f, indent=2)
        f.write("\n")


def main():
    torch.manual_seed(20261122)
    torch.use_deterministic_algorithms(True)
    unet, vae = TinyUnet().eval(), TinyVaeDecoder().eval()
    # Inputs: committed as .bin, drawn here once.
    noise = torch.randn(BATCH, CH, H, W)
    embeds = torch.randn(BATCH, CTX, D)
    pooled = torch.randn(BATCH, P)
    neg_embeds = 0.5 * torch.randn(BATCH, CTX, D)
    neg_pooled = 0.5 * torch.randn(BATCH, P)
    # diffusers _get_add_time_ids: original (h, w), crop (0, 0), target (h, w); negative = positive.
    time_ids = torch.tensor([[H * 8, W * 8, 0, 0, H * 8, W * 8]] * BATCH, dtype=torch.float32)

    os.makedirs(MODEL, exist_ok=True)
    write_json(os.path.join(MODEL, "model_index.json"),
               {"_class_name": "StableDiffusionXLPipeline", "force_zeros_for_empty_prompt": True})
    write_json(os.path.join(MODEL, "scheduler", "scheduler_config.json"),
               dict(_class_name="EulerDiscreteScheduler", **SCHEDULER))
    write_json(os.path.join(MODEL, "vae_decoder", "config.json"),
               {"_class_name": "AutoencoderKL", "latent_channels": CH, "scaling_factor": SCALING})
    os.makedirs(os.path.join(MODEL, "unet"), exist_ok=True)
    example = (noise.repeat(2, 1, 1, 1), torch.tensor(751.0), torch.cat([neg_embeds, embeds]),
               torch.cat([neg_pooled, pooled]), torch.cat([time_ids, time_ids]))
    torch.onnx.export(unet, example, os.path.join(MODEL, "unet", "model.onnx"), opset_version=17,
                      input_names=["sample", "timestep", "encoder_hidden_states", "text_embeds", "time_ids"],
                      output_names=["out_sample"],
                      dynamic_axes={"sample": {0: "batch_size", 2: "height", 3: "width"},
                                    "encoder_hidden_states": {0: "batch_size", 1: "sequence_length"},
                                    "text_embeds": {0: "batch_size"}, "time_ids": {0: "batch_size"},
                                    "out_sample": {0: "batch_size", 2: "height", 3: "width"}})
    os.makedirs(os.path.join(MODEL, "vae_decoder"), exist_ok=True)
    torch.onnx.export(vae, (noise,), os.path.join(MODEL, "vae_decoder", "model.onnx"), opset_version=17,
                      input_names=["latent_sample"], output_names=["sample"],
                      dynamic_axes={"latent_sample": {0: "batch_size", 2: "height", 3: "width"},
                                    "sample": {0: "batch_size", 2: "height", 3: "width"}})

    Euler = load_euler()
    scheduler = Euler(**{k: v for k, v in SCHEDULER.items() if k not in ("clip_sample", "sample_max_value", "set_alpha_to_one", "skip_prk_steps")})
    scheduler.set_timesteps(STEPS)
    ctx = torch.cat([neg_embeds, embeds])
    add_text = torch.cat([neg_pooled, pooled])
    add_ids = torch.cat([time_ids, time_ids])
    with torch.no_grad():
        latents = noise * scheduler.init_noise_sigma
        first_unet = None
        for i, t in enumerate(scheduler.timesteps):
            model_in = scheduler.scale_model_input(torch.cat([latents] * 2), t)
            pred = unet(model_in, t.float(), ctx, add_text, add_ids)
            if i == 0:
                first_unet = (model_in, t.float(), pred)
            uncond, cond = pred.chunk(2)
            noise_pred = uncond + GUIDANCE * (cond - uncond)
            latents = scheduler.step(noise_pred, t, latents, return_dict=False)[0]
        image = (vae(latents / SCALING) / 2 + 0.5).clamp(0, 1)

    for name, value in [("noise.bin", noise), ("prompt_embeds.bin", embeds), ("pooled.bin", pooled),
                        ("negative_prompt_embeds.bin", neg_embeds), ("negative_pooled.bin", neg_pooled),
                        ("expected_latents.bin", latents), ("expected_image.bin", image),
                        ("unet_call_sample.bin", first_unet[0]), ("unet_call_out.bin", first_unet[2])]:
        save(name, value)
    write_json(os.path.join(HERE, "parity.json"), {
        "batch": BATCH, "channels": CH, "height": H, "width": W, "context": CTX, "embed_width": D,
        "pooled_width": P, "steps": STEPS, "guidance": GUIDANCE, "scaling_factor": SCALING,
        "timesteps": [float(t) for t in scheduler.timesteps], "sigmas": [float(s) for s in scheduler.sigmas],
        "init_noise_sigma": float(scheduler.init_noise_sigma), "unet_call_timestep": float(first_unet[1]),
        "time_ids": time_ids[0].tolist(), "torch": torch.__version__,
        "image_min": float(image.min()), "image_max": float(image.max()),
        "latents_absmax": float(latents.abs().max())})
    print("ok", scheduler.timesteps.tolist(), float(image.min()), float(image.max()), float(latents.abs().max()))


if __name__ == "__main__":
    main()

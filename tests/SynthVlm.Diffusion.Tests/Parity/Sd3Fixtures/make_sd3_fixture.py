#!/usr/bin/env python3
"""Tiny PyTorch SD3 MMDiT + 16-channel VAE decoder, exported to ONNX in optimum's SD3 layout, and a reference loop.

Writes, next to this script:
  model/  model_index.json, scheduler/scheduler_config.json, transformer/model.onnx + config.json,
          vae_decoder/model.onnx + config.json (the C# test runs Sd3Pipeline.GenerateFromEmbeddings, which needs
          no text encoder)
  parity.json  shapes, settings, schedule;  *.bin  little-endian float32 arrays (inputs and expected outputs)

The transformer is my own torch re-implementation, at toy size, of the published SD3Transformer2DModel
definition (diffusers' transformer_sd3.py / attention.py / embeddings.py / normalization.py at the pinned commit):
patch embedding (conv, stride = patch) plus a 2-D sin-cos position table centre-cropped to the latent grid as
PatchEmbed crops its pos_embed_max_size table (simplified: no base_size/interpolation_scale rescaling); timestep embedding
(sinusoid of 256 channels, cos first, shift 0, then Linear-SiLU-Linear) plus the pooled-text projection
(Linear-SiLU-Linear); context_embedder Linear; JointTransformerBlocks with AdaLayerNormZero on both streams
(the last block context_pre_only, with AdaLayerNormContinuous on the context), joint attention over
[image tokens; context tokens] with separate projections, tanh-GELU feed-forward x4; AdaLayerNormContinuous
(scale first, then shift) and proj_out; unpatchify. No qk-norm and no dual attention (SD3 medium has neither;
SD3.5 adds them). ONNX names follow optimum's SD3TransformerOnnxConfig
(hidden_states, timestep [batch], encoder_hidden_states, pooled_projections -> out_hidden_states).

The reference loop is diffusers' StableDiffusion3Pipeline.__call__ written out step by step (latents are the
noise unscaled; per step: cat([latents]*2), timestep = t.expand(2B), transformer on [uncond; cond],
noise_pred = uncond + g*(cond - uncond), scheduler.step; then latents / scaling_factor + shift_factor, VAE
decode, (x/2+0.5).clamp(0,1)), with the scheduler being diffusers' UNMODIFIED
scheduling_flow_match_euler_discrete.py at the pinned commit (huggingface/diffusers
58eb52c0803ea9af3abec60841c2a093bdf1f951), loaded through the stand-ins of
../../Schedulers/Fixtures/make_scheduler_vectors.py (DIFFUSERS_SRC names the checkout or bare git dir).

Usage: DIFFUSERS_SRC=/work/.mirror/huggingface+diffusers/repo /usr/bin/python3 make_sd3_fixture.py
(Debian torch 1.13, onnx 1.12; CPU; deterministic.)
"""
import importlib.util
import json
import math
import os

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "model")
os.environ.setdefault("DIFFUSERS_SRC", "/work/.mirror/huggingface+diffusers/repo")

BATCH, CH, H, W = 2, 16, 16, 16          # latents [B, 16, H, W]; the image is 8x larger
PATCH, INNER, HEADS, LAYERS = 2, 32, 2, 2
JOINT, POOLED, SEQ = 48, 40, 77 + 32     # T5 width, CLIP-L + CLIP-G pooled width, CLIP 77 + T5 32 tokens
POS_MAX = 16                             # position table of 16x16 patches, centre-cropped
STEPS, GUIDANCE, SHIFT = 5, 7.0, 3.0
SCALING, SHIFT_FACTOR = 1.5305, 0.0609   # SD3 medium's VAE config


def sincos_1d(dim, pos):
    omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
    out = np.einsum("m,d->md", pos.reshape(-1), omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def sincos_2d(dim, grid):
    gh, gw = np.meshgrid(np.arange(grid, dtype=np.float32), np.arange(grid, dtype=np.float32), indexing="xy")
    # diffusers' get_2d_sincos_pos_embed: grid = meshgrid(w, h); first half embeds grid[0], second grid[1].
    emb_h = sincos_1d(dim // 2, gh)
    emb_w = sincos_1d(dim // 2, gw)
    return np.concatenate([emb_h, emb_w], axis=1).astype(np.float32)  # [grid*grid, dim]


def timestep_sinusoid(t, dim=256):
    half = dim // 2
    exponent = -math.log(10000) * torch.arange(half, dtype=torch.float32) / half
    args = t.float()[:, None] * torch.exp(exponent)[None, :]
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=-1)
    return torch.cat([emb[:, half:], emb[:, :half]], dim=-1)  # flip_sin_to_cos


class AdaZero(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.linear = nn.Linear(dim, 6 * dim)
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)

    def forward(self, x, temb):
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.linear(nn.functional.silu(temb)).chunk(6, dim=1)
        return self.norm(x) * (1 + scale_msa[:, None]) + shift_msa[:, None], gate_msa, shift_mlp, scale_mlp, gate_mlp


class AdaContinuous(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.linear = nn.Linear(dim, 2 * dim)
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)

    def forward(self, x, temb):
        scale, shift = self.linear(nn.functional.silu(temb)).chunk(2, dim=1)
        return self.norm(x) * (1 + scale)[:, None, :] + shift[:, None, :]


def feed_forward(dim):
    return nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(approximate="tanh"), nn.Linear(4 * dim, dim))


class JointBlock(nn.Module):
    def __init__(self, dim, heads, context_pre_only):
        super().__init__()
        self.heads, self.pre_only = heads, context_pre_only
        self.norm1 = AdaZero(dim)
        self.norm1_context = AdaContinuous(dim) if context_pre_only else AdaZero(dim)
        self.to_q, self.to_k, self.to_v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.add_q, self.add_k, self.add_v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.to_out = nn.Linear(dim, dim)
        self.to_add_out = None if context_pre_only else nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ff = feed_forward(dim)
        if not context_pre_only:
            self.norm2_context = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
            self.ff_context = feed_forward(dim)

    def split(self, x):
        b, n, d = x.shape
        return x.reshape(b, n, self.heads, d // self.heads).transpose(1, 2)

    def forward(self, x, ctx, temb):
        nx, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.norm1(x, temb)
        if self.pre_only:
            nc = self.norm1_context(ctx, temb)
        else:
            nc, c_gate_msa, c_shift_mlp, c_scale_mlp, c_gate_mlp = self.norm1_context(ctx, temb)
        q = torch.cat([self.split(self.to_q(nx)), self.split(self.add_q(nc))], dim=2)
        k = torch.cat([self.split(self.to_k(nx)), self.split(self.add_k(nc))], dim=2)
        v = torch.cat([self.split(self.to_v(nx)), self.split(self.add_v(nc))], dim=2)
        scale = 1.0 / math.sqrt(q.shape[-1])
        attn = torch.softmax((q @ k.transpose(-1, -2)) * scale, dim=-1) @ v
        b, hh, n, dh = attn.shape
        attn = attn.transpose(1, 2).reshape(b, n, hh * dh)
        n_img = x.shape[1]
        a_img, a_ctx = attn[:, :n_img], attn[:, n_img:]
        x = x + gate_msa[:, None] * self.to_out(a_img)
        x = x + gate_mlp[:, None] * self.ff(self.norm2(x) * (1 + scale_mlp[:, None]) + shift_mlp[:, None])
        if self.pre_only:
            return x, None
        ctx = ctx + c_gate_msa[:, None] * self.to_add_out(a_ctx)
        ctx = ctx + c_gate_mlp[:, None] * self.ff_context(self.norm2_context(ctx) * (1 + c_scale_mlp[:, None]) + c_shift_mlp[:, None])
        return x, ctx


class TinyMmdit(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Conv2d(CH, INNER, PATCH, stride=PATCH)
        self.register_buffer("pos", torch.from_numpy(sincos_2d(INNER, POS_MAX)).reshape(1, POS_MAX, POS_MAX, INNER))
        self.time = nn.Sequential(nn.Linear(256, INNER), nn.SiLU(), nn.Linear(INNER, INNER))
        self.text = nn.Sequential(nn.Linear(POOLED, INNER), nn.SiLU(), nn.Linear(INNER, INNER))
        self.context_embedder = nn.Linear(JOINT, INNER)
        self.blocks = nn.ModuleList([JointBlock(INNER, HEADS, i == LAYERS - 1) for i in range(LAYERS)])
        self.norm_out = AdaContinuous(INNER)
        self.proj_out = nn.Linear(INNER, PATCH * PATCH * CH)

    def forward(self, hidden_states, timestep, encoder_hidden_states, pooled_projections):
        b, _, hgt, wid = hidden_states.shape
        h, w = hgt // PATCH, wid // PATCH
        x = self.proj(hidden_states).flatten(2).transpose(1, 2)
        top, left = (POS_MAX - h) // 2, (POS_MAX - w) // 2
        x = x + self.pos[:, top:top + h, left:left + w, :].reshape(1, -1, INNER)
        temb = self.time(timestep_sinusoid(timestep)) + self.text(pooled_projections)
        ctx = self.context_embedder(encoder_hidden_states)
        for block in self.blocks:
            x, ctx = block(x, ctx, temb)
        x = self.proj_out(self.norm_out(x, temb))
        x = x.reshape(b, h, w, PATCH, PATCH, CH).permute(0, 5, 1, 3, 2, 4)
        return x.reshape(b, CH, h * PATCH, w * PATCH)


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
        return torch.tanh(self.conv_out(nn.functional.silu(x)))


def load_flow_match():
    path = os.path.join(HERE, "..", "..", "Schedulers", "Fixtures", "make_flow_match_vectors.py")
    spec = importlib.util.spec_from_file_location("make_flow_match_vectors", path)
    helper = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helper)
    helper.base.install_stand_ins()
    return helper.base.load(helper.NAME).FlowMatchEulerDiscreteScheduler


def save(name, tensor):
    np.asarray(tensor.detach().numpy(), dtype="<f4").tofile(os.path.join(HERE, name))


def write_json(path, value):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(value, f, indent=2)
        f.write("\n")


def main():
    torch.manual_seed(20261207)
    torch.use_deterministic_algorithms(True)
    mmdit, vae = TinyMmdit().eval(), TinyVaeDecoder().eval()
    # adaLN-Zero starts its gates at zero in training; random weights keep every path live here.
    noise = torch.randn(BATCH, CH, H, W)
    embeds = torch.randn(BATCH, SEQ, JOINT)
    embeds[:, :77, POOLED:] = 0          # CLIP rows are zero-padded from 40 to the T5 width, as diffusers pads
    pooled = torch.randn(BATCH, POOLED)
    neg_embeds = 0.5 * torch.randn(BATCH, SEQ, JOINT)
    neg_embeds[:, :77, POOLED:] = 0
    neg_pooled = 0.5 * torch.randn(BATCH, POOLED)

    write_json(os.path.join(MODEL, "model_index.json"), {"_class_name": "StableDiffusion3Pipeline"})
    write_json(os.path.join(MODEL, "scheduler", "scheduler_config.json"),
               {"_class_name": "FlowMatchEulerDiscreteScheduler", "num_train_timesteps": 1000, "shift": SHIFT})
    write_json(os.path.join(MODEL, "transformer", "config.json"),
               {"_class_name": "SD3Transformer2DModel", "in_channels": CH, "out_channels": CH, "patch_size": PATCH,
                "joint_attention_dim": JOINT, "pooled_projection_dim": POOLED, "num_layers": LAYERS,
                "num_attention_heads": HEADS, "attention_head_dim": INNER // HEADS, "caption_projection_dim": INNER,
                "pos_embed_max_size": POS_MAX, "sample_size": H})
    write_json(os.path.join(MODEL, "vae_decoder", "config.json"),
               {"_class_name": "AutoencoderKL", "latent_channels": CH, "scaling_factor": SCALING, "shift_factor": SHIFT_FACTOR})
    os.makedirs(os.path.join(MODEL, "transformer"), exist_ok=True)
    example = (noise.repeat(2, 1, 1, 1), torch.full((2 * BATCH,), 1000.0), torch.cat([neg_embeds, embeds]),
               torch.cat([neg_pooled, pooled]))
    # Opset 16: torch 1.13 exports an affine-free LayerNorm as an invalid opset-17 LayerNormalization node.
    torch.onnx.export(mmdit, example, os.path.join(MODEL, "transformer", "model.onnx"), opset_version=16,
                      input_names=["hidden_states", "timestep", "encoder_hidden_states", "pooled_projections"],
                      output_names=["out_hidden_states"],
                      dynamic_axes={"hidden_states": {0: "batch_size", 2: "height", 3: "width"},
                                    "encoder_hidden_states": {0: "batch_size", 1: "sequence_length"},
                                    "pooled_projections": {0: "batch_size"}, "timestep": {0: "step"},
                                    "out_hidden_states": {0: "batch_size", 2: "height", 3: "width"}})
    os.makedirs(os.path.join(MODEL, "vae_decoder"), exist_ok=True)
    torch.onnx.export(vae, (noise,), os.path.join(MODEL, "vae_decoder", "model.onnx"), opset_version=17,
                      input_names=["latent_sample"], output_names=["sample"],
                      dynamic_axes={"latent_sample": {0: "batch_size", 2: "height", 3: "width"},
                                    "sample": {0: "batch_size", 2: "height", 3: "width"}})

    scheduler = load_flow_match()(num_train_timesteps=1000, shift=SHIFT)
    scheduler.set_timesteps(STEPS)
    ctx = torch.cat([neg_embeds, embeds])
    pooled2 = torch.cat([neg_pooled, pooled])
    with torch.no_grad():
        latents = noise
        first = None
        for i, t in enumerate(scheduler.timesteps):
            model_in = torch.cat([latents] * 2)
            timestep = t.expand(model_in.shape[0])
            pred = mmdit(model_in, timestep, ctx, pooled2)
            if i == 0:
                first = (model_in, pred)
            uncond, cond = pred.chunk(2)
            noise_pred = uncond + GUIDANCE * (cond - uncond)
            latents = scheduler.step(noise_pred, t, latents, return_dict=False)[0]
        image = (vae(latents / SCALING + SHIFT_FACTOR) / 2 + 0.5).clamp(0, 1)
        # The same transformer on a second resolution (exercises the position crop and dynamic axes).
        small = torch.randn(1, CH, 8, 12)
        small_out = mmdit(small, torch.tensor([500.0]), embeds[:1], pooled[:1])

    for name, value in [("noise.bin", noise), ("prompt_embeds.bin", embeds), ("pooled.bin", pooled),
                        ("negative_prompt_embeds.bin", neg_embeds), ("negative_pooled.bin", neg_pooled),
                        ("expected_latents.bin", latents), ("expected_image.bin", image),
                        ("transformer_call_out.bin", first[1]), ("small_in.bin", small), ("small_out.bin", small_out)]:
        save(name, value)
    write_json(os.path.join(HERE, "parity.json"), {
        "batch": BATCH, "channels": CH, "height": H, "width": W, "sequence": SEQ, "joint_width": JOINT,
        "pooled_width": POOLED, "steps": STEPS, "guidance": GUIDANCE, "shift": SHIFT,
        "scaling_factor": SCALING, "shift_factor": SHIFT_FACTOR,
        "timesteps": [float(t) for t in scheduler.timesteps], "sigmas": [float(s) for s in scheduler.sigmas],
        "small_shape": list(small.shape), "small_timestep": 500.0, "torch": torch.__version__,
        "image_min": float(image.min()), "image_max": float(image.max()), "latents_absmax": float(latents.abs().max())})
    print("ok", scheduler.timesteps.tolist(), float(image.min()), float(image.max()), float(latents.abs().max()))


if __name__ == "__main__":
    main()

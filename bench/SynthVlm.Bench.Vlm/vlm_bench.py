#!/usr/bin/env python3
"""PyTorch side of bench/SynthVlm.Bench.Vlm: the tiny LLaVA-1.5 on the same weights and batch.

Usage: vlm_bench.py REQUEST.json   (written by the C# bench; prints one JSON object)

The model is the parity reference of tests/SynthVlm.Vlm.Tests/Fixtures/make_llava_reference.py,
imported by path (request["reference"]) so there is one reference model: vision_features,
llama_logits, prepare. The weights come from the model folder's safetensors, read by the small
reader below (F32/F16/BF16). Modes:
  train     forward + cross-entropy + backward over the batch, `steps` times after `warmup`
  matmul    the lm_head product [tokens, hidden] x [hidden, vocab] alone, `steps` times
  generate  greedy decoding of `new_tokens` tokens per prompt, left padding, with a KV cache
            written here with the reference's math (the reference's own greedy re-runs the whole
            sequence per token, which would not be a fair comparison)
Run with Debian's torch (/usr/bin/python3).
"""
import importlib.util
import json
import math
import struct
import sys
import time

import numpy as np
import torch


def load_reference(path):
    spec = importlib.util.spec_from_file_location("make_llava_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_safetensors(path):
    """u64 little-endian header length, JSON header, raw little-endian data."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        raw = data[start:end]
        if info["dtype"] == "F32":
            values = np.frombuffer(raw, dtype="<f4").copy()
        elif info["dtype"] == "F16":
            values = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif info["dtype"] == "BF16":
            values = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise SystemExit(f"{path}: tensor {name} has dtype {info['dtype']}; expected F32, F16 or BF16")
        out[name] = torch.from_numpy(values.reshape(info["shape"]).copy())
    return out


def check_config(ref, model_dir):
    with open(f"{model_dir}/config.json") as f:
        config = json.load(f)
    for key, value in ref.TEXT.items():
        if config["text_config"].get(key) != value:
            raise SystemExit(f"{model_dir}/config.json: text_config.{key} is {config['text_config'].get(key)}, "
                             f"the reference model is built for {value}")
    for key, value in ref.VISION.items():
        if config["vision_config"].get(key) != value:
            raise SystemExit(f"{model_dir}/config.json: vision_config.{key} is {config['vision_config'].get(key)}, "
                             f"the reference model is built for {value}")


def train(ref, W, request, pixels):
    sequences = [(s["input_ids"], s["labels"]) for s in request["sequences"]]
    vocab = ref.TEXT["vocab_size"]
    P = {k: v.clone().requires_grad_(True) for k, v in W.items()}

    def step():
        embeds, mask, pos, labels = ref.prepare(P, sequences, pixels)
        logits = ref.llama_logits(P, embeds, mask, pos)
        loss = torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, vocab), labels[:, 1:].reshape(-1), ignore_index=ref.IGNORE)
        loss.backward()
        for p in P.values():
            p.grad = None
        return loss.item(), int(mask.sum().item())

    loss, tokens = 0.0, 0
    for _ in range(request["warmup"]):
        loss, tokens = step()
    start = time.perf_counter()
    for _ in range(request["steps"]):
        step()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "tokens_per_step": tokens, "loss": loss}


def decoder_cached(ref, W, embeds, attention_mask, position_ids, cache):
    """llama_logits with a KV cache: attention_mask covers past + new positions; returns the
    last position's logits and the cache extended by this call's keys and values."""
    t = ref.TEXT
    B, T, D = embeds.shape
    heads, kv = t["num_attention_heads"], t["num_key_value_heads"]
    hd = D // heads
    past = cache[0][0].shape[2] if cache else 0
    inv_freq = 1.0 / (t["rope_theta"] ** (torch.arange(0, hd, 2).float() / hd))
    freqs = position_ids.float()[..., None] * inv_freq[None, None]
    emb = torch.cat([freqs, freqs], dim=-1)
    cos, sin = emb.cos()[:, None], emb.sin()[:, None]
    causal = torch.arange(past + T)[None, :] <= (past + torch.arange(T))[:, None]
    allowed = causal[None, None] & attention_mask.bool()[:, None, None, :]
    mask = torch.zeros(B, 1, T, past + T).masked_fill(~allowed, torch.finfo(torch.float32).min)
    h = embeds
    lm = "language_model.model."
    new_cache = []
    for i in range(t["num_hidden_layers"]):
        p = lm + f"layers.{i}."
        x = ref.rms_norm(h, W[p + "input_layernorm.weight"], t["rms_norm_eps"])
        q = torch.nn.functional.linear(x, W[p + "self_attn.q_proj.weight"]).view(B, T, heads, hd).transpose(1, 2)
        k = torch.nn.functional.linear(x, W[p + "self_attn.k_proj.weight"]).view(B, T, kv, hd).transpose(1, 2)
        v = torch.nn.functional.linear(x, W[p + "self_attn.v_proj.weight"]).view(B, T, kv, hd).transpose(1, 2)
        q = q * cos + ref.rotate_half(q) * sin
        k = k * cos + ref.rotate_half(k) * sin
        if cache:
            k = torch.cat([cache[i][0], k], dim=2)
            v = torch.cat([cache[i][1], v], dim=2)
        new_cache.append((k, v))
        S = k.shape[2]
        k = k[:, :, None].expand(B, kv, heads // kv, S, hd).reshape(B, heads, S, hd)  # repeat_kv
        v = v[:, :, None].expand(B, kv, heads // kv, S, hd).reshape(B, heads, S, hd)
        scores = q @ k.transpose(-1, -2) / math.sqrt(hd) + mask
        a = torch.softmax(scores.float(), dim=-1).to(q.dtype) @ v
        a = a.transpose(1, 2).reshape(B, T, D)
        h = h + torch.nn.functional.linear(a, W[p + "self_attn.o_proj.weight"])
        x = ref.rms_norm(h, W[p + "post_attention_layernorm.weight"], t["rms_norm_eps"])
        x = torch.nn.functional.silu(torch.nn.functional.linear(x, W[p + "mlp.gate_proj.weight"])) * \
            torch.nn.functional.linear(x, W[p + "mlp.up_proj.weight"])
        h = h + torch.nn.functional.linear(x, W[p + "mlp.down_proj.weight"])
    h = ref.rms_norm(h[:, -1:], W[lm + "norm.weight"], t["rms_norm_eps"])
    return torch.nn.functional.linear(h, W["language_model.lm_head.weight"]).float()[:, -1], new_cache


def greedy_cached(ref, W, prompts, pixels, new_tokens):
    embeds, mask, pos, _ = ref.prepare(W, [(p, None) for p in prompts], pixels, left_pad=True)
    logits, cache = decoder_cached(ref, W, embeds, mask, pos, None)
    out = [[] for _ in prompts]
    table = W["language_model.model.embed_tokens.weight"]
    for step in range(new_tokens):
        nxt = torch.argmax(logits, dim=-1)
        for b, token in enumerate(nxt.tolist()):
            out[b].append(token)
        if step == new_tokens - 1:
            break
        mask = torch.cat([mask, torch.ones(len(prompts), 1, dtype=torch.long)], dim=1)
        pos = pos[:, -1:] + 1
        logits, cache = decoder_cached(ref, W, table[nxt][:, None], mask, pos, cache)
    return out


def generate(ref, W, request, pixels):
    prompts = [s["input_ids"] for s in request["sequences"]]
    with torch.no_grad():
        ids = None
        for _ in range(request["warmup"]):
            ids = greedy_cached(ref, W, prompts, pixels, request["new_tokens"])
        start = time.perf_counter()
        for _ in range(request["steps"]):
            ids = greedy_cached(ref, W, prompts, pixels, request["new_tokens"])
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "ids": ids}


def matmul(request):
    """The lm_head product of the training batch, alone: what bounds both sides' step time."""
    rows, inner, cols = request["shape"]
    x = torch.ones(rows, inner) / inner
    w = torch.ones(cols, inner) / inner
    for _ in range(request["warmup"]):
        torch.nn.functional.linear(x, w)
    start = time.perf_counter()
    for _ in range(request["steps"]):
        torch.nn.functional.linear(x, w)
    return {"seconds": time.perf_counter() - start}


def main():
    with open(sys.argv[1]) as f:
        request = json.load(f)
    torch.set_num_threads(request["threads"])
    if request["mode"] == "matmul":
        result = matmul(request)
        result.update({"torch": torch.__version__, "threads": torch.get_num_threads(), "steps": request["steps"]})
        print(json.dumps(result))
        return
    ref = load_reference(request["reference"])
    check_config(ref, request["model"])
    W = read_safetensors(f"{request['model']}/model.safetensors")
    px = request["pixels"]
    pixels = torch.tensor(px["values"], dtype=torch.float32).view(px["shape"])
    result = train(ref, W, request, pixels) if request["mode"] == "train" else generate(ref, W, request, pixels)
    result.update({"torch": torch.__version__, "threads": torch.get_num_threads(), "steps": request["steps"]})
    print(json.dumps(result))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Reference LLaVA-1.5 forward/backward and greedy generation on a tiny model, in PyTorch.

Writes two things the C# tests compare with:
  Fixtures/tiny-llava-hf/      a tiny LLaVA-1.5 in the llava-hf layout: config.json,
                               model.safetensors (bf16 values, so fp32 on both sides is exact),
                               tokenizer.model (the embedded tiny SentencePiece model),
                               tokenizer_config.json, preprocessor_config.json
  Fixtures/llava_reference.json  loss, logits at chosen positions, per-tensor gradient summaries
                               and greedy generations, produced by the reference model below.

The reference model is written here from the public definitions (transformers'
modeling_clip.py CLIPVisionTransformer, modeling_llama.py LlamaForCausalLM with eager
attention, LLaVA's llava_arch.py prepare_inputs_labels_for_multimodal and the mlp2x_gelu
projector); nothing is imported from them. Run with Debian's torch 1.13:

    /usr/bin/python3 tests/SynthVlm.Vlm.Tests/Fixtures/make_llava_reference.py
"""
import json
import math
import os
import shutil
import struct

import numpy as np
import sentencepiece as spm
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
TOKENIZER = os.path.join(ROOT, "lib", "SynthVlm.Vlm", "Tiny", "Resources", "tokenizer.model")
MODEL_DIR = os.path.join(HERE, "tiny-llava-hf")

IGNORE = -100
IMAGE = -200
SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
          "The assistant gives helpful, detailed, and polite answers to the user's questions.")

VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
              image_size=42, patch_size=14, layer_norm_eps=1e-5, hidden_act="quick_gelu")
# llava-hf adds "<image>" and "<pad>" after the SentencePiece vocabulary (32000, 32001 for Vicuna).
IMAGE_TOKEN_HF = 512
PAD_TOKEN_HF = 513
TEXT = dict(vocab_size=514, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
            rms_norm_eps=1e-5, rope_theta=10000.0)
FEATURE_LAYER = -2
MAX_LENGTH = 128


# ---------------------------------------------------------------- weights
def make_weights(seed=0):
    g = torch.Generator().manual_seed(seed)

    def normal(*shape, std=0.02):
        return torch.randn(*shape, generator=g) * std

    def around_one(n):
        return 1.0 + normal(n, std=0.1)

    w = {}
    v, t = VISION, TEXT
    H, P = v["hidden_size"], v["patch_size"]
    positions = (v["image_size"] // P) ** 2 + 1
    pre = "vision_tower.vision_model."
    w[pre + "embeddings.class_embedding"] = normal(H, std=0.5)
    w[pre + "embeddings.patch_embedding.weight"] = normal(H, 3, P, P, std=0.05)
    w[pre + "embeddings.position_embedding.weight"] = normal(positions, H, std=0.1)
    w[pre + "pre_layrnorm.weight"] = around_one(H)
    w[pre + "pre_layrnorm.bias"] = normal(H, std=0.1)
    for i in range(v["num_hidden_layers"]):
        p = pre + f"encoder.layers.{i}."
        for name in ["q_proj", "k_proj", "v_proj", "out_proj"]:
            w[p + f"self_attn.{name}.weight"] = normal(H, H, std=0.15)
            w[p + f"self_attn.{name}.bias"] = normal(H, std=0.05)
        w[p + "layer_norm1.weight"] = around_one(H)
        w[p + "layer_norm1.bias"] = normal(H, std=0.1)
        w[p + "mlp.fc1.weight"] = normal(v["intermediate_size"], H, std=0.15)
        w[p + "mlp.fc1.bias"] = normal(v["intermediate_size"], std=0.05)
        w[p + "mlp.fc2.weight"] = normal(H, v["intermediate_size"], std=0.1)
        w[p + "mlp.fc2.bias"] = normal(H, std=0.05)
        w[p + "layer_norm2.weight"] = around_one(H)
        w[p + "layer_norm2.bias"] = normal(H, std=0.1)
    w[pre + "post_layernorm.weight"] = around_one(H)
    w[pre + "post_layernorm.bias"] = normal(H, std=0.1)

    D = t["hidden_size"]
    w["multi_modal_projector.linear_1.weight"] = normal(D, H, std=0.2)
    w["multi_modal_projector.linear_1.bias"] = normal(D, std=0.05)
    w["multi_modal_projector.linear_2.weight"] = normal(D, D, std=0.15)
    w["multi_modal_projector.linear_2.bias"] = normal(D, std=0.05)

    heads, kv = t["num_attention_heads"], t["num_key_value_heads"]
    hd = D // heads
    lm = "language_model.model."
    w[lm + "embed_tokens.weight"] = normal(t["vocab_size"], D, std=1.0)
    for i in range(t["num_hidden_layers"]):
        p = lm + f"layers.{i}."
        w[p + "self_attn.q_proj.weight"] = normal(heads * hd, D, std=0.15)
        w[p + "self_attn.k_proj.weight"] = normal(kv * hd, D, std=0.15)
        w[p + "self_attn.v_proj.weight"] = normal(kv * hd, D, std=0.15)
        w[p + "self_attn.o_proj.weight"] = normal(D, heads * hd, std=0.15)
        w[p + "mlp.gate_proj.weight"] = normal(t["intermediate_size"], D, std=0.15)
        w[p + "mlp.up_proj.weight"] = normal(t["intermediate_size"], D, std=0.15)
        w[p + "mlp.down_proj.weight"] = normal(D, t["intermediate_size"], std=0.1)
        w[p + "input_layernorm.weight"] = around_one(D)
        w[p + "post_attention_layernorm.weight"] = around_one(D)
    w[lm + "norm.weight"] = around_one(D)
    w["language_model.lm_head.weight"] = normal(t["vocab_size"], D, std=0.3)
    # Round every value to bfloat16 so the committed bf16 file holds exactly these fp32 values.
    return {k: v.to(torch.bfloat16).to(torch.float32) for k, v in w.items()}


def write_safetensors(path, tensors):
    """The safetensors format: u64 header length, JSON header, raw little-endian data."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        data = tensors[name].to(torch.bfloat16).contiguous().view(torch.int16).numpy().astype("<i2").tobytes()
        header[name] = {"dtype": "BF16", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def write_model_folder(weights):
    if os.path.isdir(MODEL_DIR):
        shutil.rmtree(MODEL_DIR)
    os.makedirs(MODEL_DIR)
    write_safetensors(os.path.join(MODEL_DIR, "model.safetensors"), weights)
    text = dict(TEXT, model_type="llama", hidden_act="silu", tie_word_embeddings=False, pad_token_id=PAD_TOKEN_HF)
    config = {
        "architectures": ["LlavaForConditionalGeneration"], "model_type": "llava",
        "ignore_index": IGNORE, "image_token_index": IMAGE_TOKEN_HF, "projector_hidden_act": "gelu",
        "vision_feature_layer": FEATURE_LAYER, "vision_feature_select_strategy": "default",
        "tokenizer_model_max_length": MAX_LENGTH, "pad_token_id": PAD_TOKEN_HF,
        "vision_config": dict(VISION, model_type="clip_vision_model", num_channels=3, projection_dim=32),
        "text_config": text, "torch_dtype": "bfloat16",
    }
    with open(os.path.join(MODEL_DIR, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    shutil.copyfile(TOKENIZER, os.path.join(MODEL_DIR, "tokenizer.model"))
    with open(os.path.join(MODEL_DIR, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>",
                   "unk_token": "<unk>", "pad_token": "<pad>", "add_bos_token": True, "add_eos_token": False,
                   "legacy": True, "model_max_length": MAX_LENGTH, "padding_side": "right"}, f, indent=2)
    with open(os.path.join(MODEL_DIR, "added_tokens.json"), "w") as f:
        json.dump({"<image>": IMAGE_TOKEN_HF, "<pad>": PAD_TOKEN_HF}, f, indent=2)
    with open(os.path.join(MODEL_DIR, "special_tokens_map.json"), "w") as f:
        json.dump({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
                   "additional_special_tokens": ["<image>"]}, f, indent=2)
    with open(os.path.join(MODEL_DIR, "preprocessor_config.json"), "w") as f:
        json.dump({"image_processor_type": "CLIPImageProcessor", "do_resize": True, "size": {"shortest_edge": 42},
                   "resample": 3, "do_center_crop": True, "crop_size": {"height": 42, "width": 42},
                   "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
                   "image_mean": [0.48145466, 0.4578275, 0.40821073],
                   "image_std": [0.26862954, 0.26130258, 0.27577711], "do_convert_rgb": True}, f, indent=2)


# ---------------------------------------------------------------- reference model
def layer_norm(x, w, b, eps):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), w, b, eps)


def vision_features(W, pixels):
    v = VISION
    pre = "vision_tower.vision_model."
    P, H, heads = v["patch_size"], v["hidden_size"], v["num_attention_heads"]
    patches = torch.nn.functional.conv2d(pixels, W[pre + "embeddings.patch_embedding.weight"], stride=P)
    patches = patches.flatten(2).transpose(1, 2)
    cls = W[pre + "embeddings.class_embedding"].expand(pixels.shape[0], 1, -1)
    h = torch.cat([cls, patches], dim=1) + W[pre + "embeddings.position_embedding.weight"][None]
    h = layer_norm(h, W[pre + "pre_layrnorm.weight"], W[pre + "pre_layrnorm.bias"], v["layer_norm_eps"])
    states = [h]
    for i in range(v["num_hidden_layers"]):
        p = pre + f"encoder.layers.{i}."
        B, T, _ = h.shape
        hd = H // heads
        x = layer_norm(h, W[p + "layer_norm1.weight"], W[p + "layer_norm1.bias"], v["layer_norm_eps"])

        def proj(name, x=x):
            return torch.nn.functional.linear(x, W[p + f"self_attn.{name}.weight"], W[p + f"self_attn.{name}.bias"])

        q = (proj("q_proj") * hd ** -0.5).view(B, T, heads, hd).transpose(1, 2)
        k = proj("k_proj").view(B, T, heads, hd).transpose(1, 2)
        vv = proj("v_proj").view(B, T, heads, hd).transpose(1, 2)
        a = torch.softmax(q @ k.transpose(-1, -2), dim=-1) @ vv
        a = a.transpose(1, 2).reshape(B, T, H)
        h = h + torch.nn.functional.linear(a, W[p + "self_attn.out_proj.weight"], W[p + "self_attn.out_proj.bias"])
        x = layer_norm(h, W[p + "layer_norm2.weight"], W[p + "layer_norm2.bias"], v["layer_norm_eps"])
        x = torch.nn.functional.linear(x, W[p + "mlp.fc1.weight"], W[p + "mlp.fc1.bias"])
        x = x * torch.sigmoid(1.702 * x)  # quick_gelu
        h = h + torch.nn.functional.linear(x, W[p + "mlp.fc2.weight"], W[p + "mlp.fc2.bias"])
        states.append(h)
    feats = states[FEATURE_LAYER][:, 1:]  # second-to-last hidden state, CLS dropped
    x = torch.nn.functional.linear(feats, W["multi_modal_projector.linear_1.weight"], W["multi_modal_projector.linear_1.bias"])
    x = torch.nn.functional.gelu(x)  # exact (erf) GELU
    return torch.nn.functional.linear(x, W["multi_modal_projector.linear_2.weight"], W["multi_modal_projector.linear_2.bias"])


def rms_norm(x, w, eps):
    var = x.float().pow(2).mean(-1, keepdim=True)
    return w * (x.float() * torch.rsqrt(var + eps)).to(x.dtype)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def llama_logits(W, embeds, attention_mask, position_ids):
    t = TEXT
    B, T, D = embeds.shape
    heads, kv = t["num_attention_heads"], t["num_key_value_heads"]
    hd = D // heads
    inv_freq = 1.0 / (t["rope_theta"] ** (torch.arange(0, hd, 2).float() / hd))
    freqs = position_ids.float()[..., None] * inv_freq[None, None]
    emb = torch.cat([freqs, freqs], dim=-1)
    cos, sin = emb.cos()[:, None], emb.sin()[:, None]
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    allowed = causal[None, None] & attention_mask.bool()[:, None, None, :]
    mask = torch.zeros(B, 1, T, T).masked_fill(~allowed, torch.finfo(torch.float32).min)
    h = embeds
    lm = "language_model.model."
    for i in range(t["num_hidden_layers"]):
        p = lm + f"layers.{i}."
        x = rms_norm(h, W[p + "input_layernorm.weight"], t["rms_norm_eps"])
        q = torch.nn.functional.linear(x, W[p + "self_attn.q_proj.weight"]).view(B, T, heads, hd).transpose(1, 2)
        k = torch.nn.functional.linear(x, W[p + "self_attn.k_proj.weight"]).view(B, T, kv, hd).transpose(1, 2)
        v = torch.nn.functional.linear(x, W[p + "self_attn.v_proj.weight"]).view(B, T, kv, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k[:, :, None].expand(B, kv, heads // kv, T, hd).reshape(B, heads, T, hd)  # repeat_kv
        v = v[:, :, None].expand(B, kv, heads // kv, T, hd).reshape(B, heads, T, hd)
        scores = q @ k.transpose(-1, -2) / math.sqrt(hd) + mask
        a = torch.softmax(scores.float(), dim=-1).to(q.dtype) @ v
        a = a.transpose(1, 2).reshape(B, T, D)
        h = h + torch.nn.functional.linear(a, W[p + "self_attn.o_proj.weight"])
        x = rms_norm(h, W[p + "post_attention_layernorm.weight"], t["rms_norm_eps"])
        x = torch.nn.functional.silu(torch.nn.functional.linear(x, W[p + "mlp.gate_proj.weight"])) * \
            torch.nn.functional.linear(x, W[p + "mlp.up_proj.weight"])
        h = h + torch.nn.functional.linear(x, W[p + "mlp.down_proj.weight"])
    h = rms_norm(h, W[lm + "norm.weight"], t["rms_norm_eps"])
    return torch.nn.functional.linear(h, W["language_model.lm_head.weight"]).float()


def prepare(W, sequences, pixels, left_pad=False):
    """LLaVA's prepare_inputs_labels_for_multimodal: splice, truncate, pad, positions."""
    feats = vision_features(W, pixels) if pixels is not None else None
    embed = W["language_model.model.embed_tokens.weight"]
    rows, labels, image_index = [], [], 0
    for ids, labs in sequences:
        text = [i for i in ids if i != IMAGE]
        e = embed[torch.tensor(text, dtype=torch.long)]
        lab = list(labs) if labs is not None else [IGNORE] * len(ids)
        if IMAGE in ids:
            m = ids.index(IMAGE)
            f = feats[image_index]
            image_index += 1
            e = torch.cat([e[:m], f, e[m:]], dim=0)
            lab = lab[:m] + [IGNORE] * f.shape[0] + lab[m + 1:]
        rows.append(e[:MAX_LENGTH])
        labels.append(lab[:MAX_LENGTH])
    T = max(r.shape[0] for r in rows)
    B, D = len(rows), TEXT["hidden_size"]
    embeds = torch.zeros(B, T, D)
    mask = torch.zeros(B, T, dtype=torch.long)
    pos = torch.zeros(B, T, dtype=torch.long)
    lab_t = torch.full((B, T), IGNORE, dtype=torch.long)
    for b, (r, l) in enumerate(zip(rows, labels)):
        n = r.shape[0]
        s = T - n if left_pad else 0
        embeds[b, s:s + n] = r
        mask[b, s:s + n] = 1
        pos[b, s:s + n] = torch.arange(n)
        lab_t[b, s:s + n] = torch.tensor(l)
    return embeds, mask, pos, lab_t


# ---------------------------------------------------------------- data
def build_sequences(sp):
    def enc(text):
        return sp.encode(text)

    # plain (pre-training): "<image>" + caption + "\n"; the first two positions (BOS, image) masked.
    cap = "A red bird lying next to a snowy mountain at dawn."
    plain_ids = [1, IMAGE] + enc(cap + "\n")
    plain_labels = [IGNORE, IGNORE] + enc(cap + "\n")
    # vicuna_v1 with an image: system + " USER: <image>\nQ ASSISTANT: A</s>"; answer and </s> supervised.
    # The answer is long enough that the sample is truncated at MAX_LENGTH inside it.
    question, answer = "What is in the picture?", "There are 2 cats and 13 birds. The cats sit on a red boat. The birds fly over a snowy mountain at dawn."
    head = [1] + enc(SYSTEM + " USER: ")
    middle = enc("\n" + question + " ASSISTANT:")
    ans = enc(answer)
    v1_ids = head + [IMAGE] + middle + ans + [2]
    v1_labels = [IGNORE] * (len(head) + 1 + len(middle)) + ans + [2]
    # vicuna_v1 without an image (LLaVA-665K has text-only samples).
    t_head = [1] + enc(SYSTEM + " USER: Describe a boat. ASSISTANT:")
    t_ans = enc("A small blue boat.")
    text_ids = t_head + t_ans + [2]
    text_labels = [IGNORE] * len(t_head) + t_ans + [2]
    return [(plain_ids, plain_labels), (v1_ids, v1_labels), (text_ids, text_labels)]


def short(x):
    """Nine significant digits: float32 round-trips, the JSON stays small."""
    return float(f"{float(x):.9g}")


def grad_summary(g):
    if g is None:  # parameters the forward never reaches (post_layernorm, the last vision layer)
        return None
    flat = g.detach().double().flatten()
    idx = torch.arange(flat.numel(), dtype=torch.float64)
    pattern = torch.sin(idx * 0.7 + 0.3)
    return {"sum": flat.sum().item(), "norm": flat.norm().item(), "dot": (flat * pattern).sum().item(),
            "head": [short(x) for x in flat[:8]]}


def greedy(W, ids, pixels, new_tokens):
    ids = list(ids)
    out = []
    for _ in range(new_tokens):
        embeds, mask, pos, _ = prepare(W, [(ids, None)], pixels)
        assert embeds.shape[1] < MAX_LENGTH, "a generation prompt must fit the context untruncated"
        logits = llama_logits(W, embeds, mask, pos)
        nxt = int(torch.argmax(logits[0, -1]).item())
        out.append(nxt)
        ids.append(nxt)
        if nxt == 2:
            break
    return out


def main():
    torch.set_num_threads(1)
    weights = make_weights()
    write_model_folder(weights)
    sp = spm.SentencePieceProcessor(model_file=TOKENIZER)
    W = {k: v.clone().requires_grad_(True) for k, v in weights.items()}
    g = torch.Generator().manual_seed(1)
    # Multiples of 1/64: exact in float32 and short in JSON.
    pixels = torch.round(torch.randn(2, 3, VISION["image_size"], VISION["image_size"], generator=g) * 64) / 64

    sequences = build_sequences(sp)
    embeds, mask, pos, labels = prepare(W, sequences, pixels)
    logits = llama_logits(W, embeds, mask, pos)
    shift_logits = logits[:, :-1].reshape(-1, logits.shape[-1])
    shift_labels = labels[:, 1:].reshape(-1)
    loss = torch.nn.functional.cross_entropy(shift_logits, shift_labels, ignore_index=IGNORE)
    loss.backward()

    lengths = mask.sum(1).tolist()
    picks = []
    for b, n in enumerate(lengths):
        for t in sorted({1, n // 2, n - 2, n - 1}):
            picks.append({"row": b, "position": t, "logits": [short(x) for x in logits[b, t].detach()]})

    prompts = [
        [1] + sp.encode(SYSTEM + " USER: ") + [IMAGE] + sp.encode("\nDescribe the image concisely. ASSISTANT:"),
        [1] + sp.encode(SYSTEM + " USER: ") + [IMAGE] + sp.encode("\nWhat is in the picture? Answer in a few words. ASSISTANT:"),
    ]
    with torch.no_grad():
        Wd = {k: v.detach() for k, v in W.items()}
        generations = [{"prompt_ids": p, "image": i, "ids": greedy(Wd, p, pixels[i:i + 1], 12)} for i, p in enumerate(prompts)]

    reference = {
        "about": "make_llava_reference.py: tiny LLaVA-1.5 forward/backward and greedy decoding in PyTorch " + torch.__version__,
        "image_token_index": IMAGE,
        "pixels": {"shape": list(pixels.shape), "values": [float(x) for x in pixels.flatten()]},
        "sequences": [{"input_ids": ids, "labels": labs} for ids, labs in sequences],
        "lengths": lengths,
        "loss": float(loss.item()),
        "logits": picks,
        "gradients": {k: grad_summary(v.grad) for k, v in sorted(W.items())},
        "generations": generations,
    }
    with open(os.path.join(HERE, "llava_reference.json"), "w") as f:
        json.dump(reference, f)
    print("supervised per row", (labels[:, 1:] != IGNORE).sum(1).tolist())
    print("loss", loss.item(), "lengths", lengths, "generations", [g["ids"] for g in generations])


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Reference LoRA stage-2 training of the tiny LLaVA in PyTorch, for the C# LoRA + optimizer path.

The model, weights and batching are make_llava_reference.py's (imported, one reference model).
LoRA follows PEFT's lora.Linear on the language model's q/k/v/o/gate/up/down projections:
r 4, alpha 8 (scaling alpha / r = 2), no dropout, A [r, in] drawn as PEFT initialises it
(kaiming_uniform_ with a = sqrt(5), i.e. uniform in +-1/sqrt(in)), B [out, r] zeros. A linear
layer with an adapter computes x W^T + scaling * x A^T B^T; this script feeds the reference
model the equal weight W + scaling * B A, whose gradients with respect to A and B are the same.

The initial adapters are written as a PEFT folder, Fixtures/tiny-llava-lora-init/
(adapter_config.json + adapter_model.safetensors, float32, keys
base_model.model.<llava-hf module path>.lora_A.weight / .lora_B.weight), which the C# test
loads with LlavaLora.Load. The loop is what LLaVA's finetune_lora.sh gets from Hugging Face's
Trainer: the vision tower and the base LLM frozen; LoRA at lr 2e-4 and the projector at
mm_projector_lr 2e-5 (two AdamW parameter groups: betas 0.9/0.999, eps 1e-8, weight decay 0);
micro-batches of 2 whose losses are divided by the 2 accumulation steps; clip_grad_norm_(1.0)
over both groups; LambdaLR with transformers' cosine-with-warm-up (warm-up ceil(0.03 * 10) = 1);
zero_grad after each step; 10 steps over a fixed list of vicuna_v1 samples (with and without
an image, one with two rounds) cycled in order.

    /usr/bin/python3 tests/SynthVlm.Vlm.Tests/Fixtures/make_lora_training_reference.py
"""
import json
import math
import os
import struct
import sys

import sentencepiece as spm
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_llava_reference as ref  # noqa: E402

STEPS, MICRO, ACCUMULATION, WARMUP_RATIO, MAX_NORM = 10, 2, 2, 0.03, 1.0
LR, PROJECTOR_LR = 2e-4, 2e-5
RANK, ALPHA, SEED = 4, 8.0, 7
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
ADAPTER_DIR = os.path.join(HERE, "tiny-llava-lora-init")
PEFT_PREFIX = "base_model.model."


def vicuna(sp, rounds, image):
    """vicuna_v1: system + " USER: [<image>\\n]Q ASSISTANT: A</s>USER: ..."; answers and </s> supervised."""
    ids = [1] + sp.encode(ref.SYSTEM + " USER: ")
    labels = [ref.IGNORE] * len(ids)
    for i, (question, answer) in enumerate(rounds):
        if i > 0:
            q = sp.encode("USER: " + question + " ASSISTANT:")
        elif image:
            q = [ref.IMAGE] + sp.encode("\n" + question + " ASSISTANT:")
        else:
            q = sp.encode(question + " ASSISTANT:")
        a = sp.encode(answer) + [2]
        ids += q + a
        labels += [ref.IGNORE] * len(q) + a
    return ids, labels


def samples(sp):
    base = ref.build_sequences(sp)  # base[1]: vicuna_v1 with an image, truncated at MAX_LENGTH; base[2]: text only
    two_rounds = vicuna(sp, [("What color is the boat?", "It is red."), ("Where is it?", "On a lake at dawn.")], True)
    short_image = vicuna(sp, [("Count the birds.", "There are 13 birds.")], True)
    text_only = vicuna(sp, [("Name a snowy place.", "A mountain.")], False)
    return [
        {"input_ids": base[1][0], "labels": base[1][1], "image": 1},
        {"input_ids": two_rounds[0], "labels": two_rounds[1], "image": 0},
        {"input_ids": base[2][0], "labels": base[2][1], "image": None},
        {"input_ids": short_image[0], "labels": short_image[1], "image": 1},
        {"input_ids": text_only[0], "labels": text_only[1], "image": None},
        {"input_ids": two_rounds[0], "labels": two_rounds[1], "image": 1},
    ]


def lr_lambda(step, total, warmup):
    if step < warmup:
        return step / max(1, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * progress)))


def target_paths():
    paths = []
    for i in range(ref.TEXT["num_hidden_layers"]):
        for t in TARGETS:
            group = "self_attn" if t.endswith(("q_proj", "k_proj", "v_proj", "o_proj")) else "mlp"
            paths.append(f"language_model.model.layers.{i}.{group}.{t}")
    return sorted(paths)


def init_lora(W):
    torch.manual_seed(SEED)
    lora = {}
    for path in target_paths():
        out_features, in_features = W[path + ".weight"].shape
        a = torch.empty(RANK, in_features)
        torch.nn.init.kaiming_uniform_(a, a=math.sqrt(5))  # PEFT's reset_lora_parameters
        lora[path] = (a, torch.zeros(out_features, RANK))
    return lora


def write_peft_folder(lora):
    os.makedirs(ADAPTER_DIR, exist_ok=True)
    config = {
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": "tiny-llava-hf",
        "r": RANK, "lora_alpha": ALPHA, "lora_dropout": 0.0, "bias": "none", "fan_in_fan_out": False,
        "inference_mode": True, "init_lora_weights": True, "use_rslora": False, "use_dora": False,
        "modules_to_save": None, "target_modules": ".*language_model.*\\.(" + "|".join(TARGETS) + ")",
    }
    with open(os.path.join(ADAPTER_DIR, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2)
    tensors = {}
    for path, (a, b) in lora.items():
        tensors[PEFT_PREFIX + path + ".lora_A.weight"] = a
        tensors[PEFT_PREFIX + path + ".lora_B.weight"] = b
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        data = tensors[name].contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(os.path.join(ADAPTER_DIR, "adapter_model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def summary(t):
    flat = t.detach().double().flatten()
    idx = torch.arange(flat.numel(), dtype=torch.float64)
    return {"sum": flat.sum().item(), "norm": flat.norm().item(),
            "dot": (flat * torch.sin(idx * 0.7 + 0.3)).sum().item(), "head": [ref.short(x) for x in flat[:8]]}


def main():
    torch.set_num_threads(1)
    sp = spm.SentencePieceProcessor(model_file=ref.TOKENIZER)
    weights = ref.make_weights()
    lora = init_lora(weights)
    write_peft_folder(lora)
    W = {k: v.clone().requires_grad_(k.startswith("multi_modal_projector.")) for k, v in weights.items()}
    projector = [W[k] for k in sorted(W) if W[k].requires_grad]
    trained_lora = {}
    for path, (a, b) in lora.items():
        trained_lora[PEFT_PREFIX + path + ".lora_A.weight"] = a.clone().requires_grad_(True)
        trained_lora[PEFT_PREFIX + path + ".lora_B.weight"] = b.clone().requires_grad_(True)
    lora_params = [trained_lora[k] for k in sorted(trained_lora)]
    scaling = ALPHA / RANK

    def effective_weights():
        E = dict(W)
        for path in lora:
            a = trained_lora[PEFT_PREFIX + path + ".lora_A.weight"]
            b = trained_lora[PEFT_PREFIX + path + ".lora_B.weight"]
            E[path + ".weight"] = W[path + ".weight"] + scaling * (b @ a)
        return E

    g = torch.Generator().manual_seed(1)
    pixels = torch.round(torch.randn(2, 3, ref.VISION["image_size"], ref.VISION["image_size"], generator=g) * 64) / 64
    data = samples(sp)
    optimizer = torch.optim.AdamW(
        [{"params": lora_params, "lr": LR}, {"params": projector, "lr": PROJECTOR_LR}],
        betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    warmup = math.ceil(STEPS * WARMUP_RATIO)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_lambda(s, STEPS, warmup))
    trainable = lora_params + projector
    cursor, losses, rates, norms = 0, [], [], []
    for step in range(STEPS):
        step_loss = 0.0
        for _ in range(ACCUMULATION):
            batch = [data[(cursor + i) % len(data)] for i in range(MICRO)]
            cursor += MICRO
            images = [b["image"] for b in batch if b["image"] is not None]
            px = pixels[images] if images else None
            E = effective_weights()
            embeds, mask, pos, labels = ref.prepare(E, [(b["input_ids"], b["labels"]) for b in batch], px)
            logits = ref.llama_logits(E, embeds, mask, pos)
            loss = torch.nn.functional.cross_entropy(
                logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=ref.IGNORE)
            (loss / ACCUMULATION).backward()
            step_loss += loss.item() / ACCUMULATION
        norms.append(float(torch.nn.utils.clip_grad_norm_(trainable, MAX_NORM)))
        rates.append([group["lr"] for group in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(step_loss)

    trained = {k: summary(v) for k, v in sorted(trained_lora.items())}
    trained.update({k: summary(W[k]) for k in sorted(W) if W[k].requires_grad})
    out = {
        "about": "make_lora_training_reference.py: LoRA stage 2 (LoRA + projector, two AdamW groups) in PyTorch " + torch.__version__,
        "steps": STEPS, "micro_batch": MICRO, "accumulation": ACCUMULATION, "lr": LR, "projector_lr": PROJECTOR_LR,
        "warmup_ratio": WARMUP_RATIO, "max_grad_norm": MAX_NORM, "rank": RANK, "alpha": ALPHA,
        "adapter": os.path.basename(ADAPTER_DIR), "samples": data, "losses": losses, "learning_rates": rates,
        "grad_norms": norms, "trained": trained,
    }
    with open(os.path.join(HERE, "lora_training_reference.json"), "w") as f:
        json.dump(out, f)
    print("losses", [round(x, 5) for x in losses])
    print("grad norms", [round(x, 5) for x in norms])
    print("lr", rates)


if __name__ == "__main__":
    main()

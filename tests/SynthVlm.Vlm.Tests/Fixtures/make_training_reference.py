#!/usr/bin/env python3
"""Reference stage-1 training (projector only) of the tiny LLaVA in PyTorch, for the C# optimizer.

The model, weights and batching are make_llava_reference.py's (imported, one reference model);
the loop is what LLaVA's pretrain.sh gets from Hugging Face's Trainer: micro-batches whose
losses are divided by the accumulation steps, clip_grad_norm_(1.0), torch.optim.AdamW
(betas 0.9/0.999, eps 1e-8, weight decay 0), LambdaLR with transformers'
cosine-with-warm-up (warm-up ceil(0.03 * steps)), zero_grad after each step. Ten steps of
two micro-batches of two samples; the samples cycle through a fixed list written to the
fixture, so the C# loop sees the same data in the same order.

    /usr/bin/python3 tests/SynthVlm.Vlm.Tests/Fixtures/make_training_reference.py
"""
import json
import math
import os
import sys

import sentencepiece as spm
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_llava_reference as ref  # noqa: E402

STEPS, MICRO, ACCUMULATION, LR, WARMUP_RATIO, MAX_NORM = 10, 2, 2, 1e-3, 0.03, 1.0


def samples(sp):
    base = ref.build_sequences(sp)  # plain (image 0), vicuna_v1 (image 1), text-only
    extra_caption = "A blue cake on an old bridge."
    plain2 = [1, ref.IMAGE] + sp.encode(extra_caption + "\n")
    plain2_labels = [ref.IGNORE, ref.IGNORE] + sp.encode(extra_caption + "\n")
    return [
        {"input_ids": base[0][0], "labels": base[0][1], "image": 0},
        {"input_ids": base[1][0], "labels": base[1][1], "image": 1},
        {"input_ids": base[2][0], "labels": base[2][1], "image": None},
        {"input_ids": plain2, "labels": plain2_labels, "image": 1},
        {"input_ids": base[0][0], "labels": base[0][1], "image": 1},
    ]


def lr_at(step, total, warmup):
    if step < warmup:
        return step / max(1, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * progress)))


def main():
    torch.set_num_threads(1)
    sp = spm.SentencePieceProcessor(model_file=ref.TOKENIZER)
    weights = ref.make_weights()
    W = {k: v.clone().requires_grad_(k.startswith("multi_modal_projector.")) for k, v in weights.items()}
    trainable = [W[k] for k in sorted(W) if W[k].requires_grad]
    g = torch.Generator().manual_seed(1)
    pixels = torch.round(torch.randn(2, 3, ref.VISION["image_size"], ref.VISION["image_size"], generator=g) * 64) / 64
    data = samples(sp)
    optimizer = torch.optim.AdamW(trainable, lr=LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    warmup = math.ceil(STEPS * WARMUP_RATIO)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_at(s, STEPS, warmup))
    cursor, losses, rates, norms = 0, [], [], []
    for step in range(STEPS):
        step_loss = 0.0
        for _ in range(ACCUMULATION):
            batch = [data[(cursor + i) % len(data)] for i in range(MICRO)]
            cursor += MICRO
            images = [b["image"] for b in batch if b["image"] is not None]
            px = pixels[images] if images else None
            embeds, mask, pos, labels = ref.prepare(W, [(b["input_ids"], b["labels"]) for b in batch], px)
            logits = ref.llama_logits(W, embeds, mask, pos)
            loss = torch.nn.functional.cross_entropy(
                logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=ref.IGNORE)
            (loss / ACCUMULATION).backward()
            step_loss += loss.item() / ACCUMULATION
        norms.append(float(torch.nn.utils.clip_grad_norm_(trainable, MAX_NORM)))
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(step_loss)

    def summary(t):
        flat = t.detach().double().flatten()
        idx = torch.arange(flat.numel(), dtype=torch.float64)
        return {"sum": flat.sum().item(), "norm": flat.norm().item(),
                "dot": (flat * torch.sin(idx * 0.7 + 0.3)).sum().item(), "head": [ref.short(x) for x in flat[:8]]}

    out = {
        "about": "make_training_reference.py: stage-1 (projector) AdamW + cosine warm-up + clipping in PyTorch " + torch.__version__,
        "steps": STEPS, "micro_batch": MICRO, "accumulation": ACCUMULATION, "lr": LR, "warmup_ratio": WARMUP_RATIO,
        "max_grad_norm": MAX_NORM, "samples": data, "losses": losses, "learning_rates": rates, "grad_norms": norms,
        "trained": {k: summary(W[k]) for k in sorted(W) if W[k].requires_grad},
    }
    with open(os.path.join(HERE, "training_reference.json"), "w") as f:
        json.dump(out, f)
    print("losses", [round(x, 5) for x in losses])
    print("lr", rates)


if __name__ == "__main__":
    main()

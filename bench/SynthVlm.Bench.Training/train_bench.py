#!/usr/bin/env python3
"""PyTorch side of bench/SynthVlm.Bench.Training: LLaVA stage-1 steps on the tiny model.

Usage: train_bench.py REQUEST.json   (written by the C# bench; prints one JSON object)

The model is the parity reference of tests/SynthVlm.Vlm.Tests/Fixtures/make_llava_reference.py
(prepare, llama_logits), the image preprocessing that of make_llava_image_reference.py
(clip_preprocess: PIL bicubic shortest-edge resize, centre crop, rescale, normalise), both imported
by path; the weights are read from the model folder's safetensors by
bench/SynthVlm.Bench.Vlm/vlm_bench.py's reader (imported too). The loop is the one
make_training_reference.py runs (Hugging Face Trainer's stage 1): per micro-batch loss / accumulation,
backward; clip_grad_norm_(max_norm); torch.optim.AdamW (0.9/0.999, eps 1e-8, no decay) on the
projector only; LambdaLR with cosine warm-up (ceil(ratio * steps)); zero_grad.

The request lists, per optimizer step, its micro-batches of samples (input_ids with -200 for the
image, labels, image path), encoded by the C# side from the same order the C# trainer follows.
Two runs, each on fresh weights:
  decode     PIL open + convert("RGB") + clip_preprocess of each micro-batch's images inside the
             timed loop, in the main thread (what a DataLoader with num_workers=0 does)
  predecoded every image preprocessed once before the clock starts: model compute only
Step 0 of each run is a warm-up outside the timing; times are per timed step.
"""
import importlib.util
import json
import math
import sys
import time

import numpy as np
import torch
from PIL import Image


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lr_lambda(total, warmup):
    def f(step):
        if step < warmup:
            return step / max(1, warmup)
        progress = (step - warmup) / max(1, total - warmup)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))
    return f


def preprocess(images_ref, path, size):
    img = Image.open(path).convert("RGB")
    return torch.from_numpy(images_ref.clip_preprocess(img, size, size))


def run(ref, images_ref, weights, request, predecoded):
    size = request["image_size"]
    W = {k: v.clone().requires_grad_(k.startswith("multi_modal_projector.")) for k, v in weights.items()}
    trainable = [W[k] for k in sorted(W) if W[k].requires_grad]
    steps = request["steps"]
    optimizer = torch.optim.AdamW(trainable, lr=request["lr"], betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(steps, math.ceil(steps * request["warmup_ratio"])))
    cache = {}
    if predecoded:
        for step in request["batches"]:
            for micro in step:
                for s in micro:
                    if s["image"] is not None and s["image"] not in cache:
                        cache[s["image"]] = preprocess(images_ref, s["image"], size)
    vocab = ref.TEXT["vocab_size"]
    accumulation = len(request["batches"][0])
    losses, tokens, image_seconds, start = [], [], 0.0, None
    for index, step in enumerate(request["batches"]):
        if index == 1:
            start = time.perf_counter()
            image_seconds = 0.0
        step_loss, step_tokens = 0.0, 0
        for micro in step:
            t0 = time.perf_counter()
            images = [cache[s["image"]] if predecoded else preprocess(images_ref, s["image"], size)
                      for s in micro if s["image"] is not None]
            pixels = torch.stack(images) if images else None
            image_seconds += time.perf_counter() - t0
            embeds, mask, pos, labels = ref.prepare(W, [(s["input_ids"], s["labels"]) for s in micro], pixels)
            logits = ref.llama_logits(W, embeds, mask, pos)
            loss = torch.nn.functional.cross_entropy(
                logits[:, :-1].reshape(-1, vocab), labels[:, 1:].reshape(-1), ignore_index=ref.IGNORE)
            (loss / accumulation).backward()
            step_loss += loss.item() / accumulation
            step_tokens += int(mask.sum().item())
        torch.nn.utils.clip_grad_norm_(trainable, request["max_grad_norm"])
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(step_loss)
        tokens.append(step_tokens)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "image_seconds": image_seconds, "losses": losses, "tokens": tokens}


def main():
    with open(sys.argv[1]) as f:
        request = json.load(f)
    torch.set_num_threads(request["threads"])
    ref = load("make_llava_reference", request["reference"])
    images_ref = load("make_llava_image_reference", request["image_reference"])
    vlm_bench = load("vlm_bench", request["vlm_bench"])
    vlm_bench.check_config(ref, request["model"])
    weights = vlm_bench.read_safetensors(f"{request['model']}/model.safetensors")
    result = {
        "torch": torch.__version__, "pil": Image.__version__, "numpy": np.__version__,
        "threads": torch.get_num_threads(),
    }
    for mode in request["modes"]:
        result[mode] = run(ref, images_ref, weights, request, predecoded=(mode == "predecoded"))
    print(json.dumps(result))


if __name__ == "__main__":
    main()

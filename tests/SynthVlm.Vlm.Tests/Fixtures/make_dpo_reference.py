#!/usr/bin/env python3
"""Reference DPO objective (sigmoid, IPO, robust) with TRL's logged metrics on the tiny LLaVA, in PyTorch.

Written from the definitions, nothing imported from TRL: huggingface/trl's classic DPOTrainer
(trl/trainer/dpo_trainer.py at tag v0.28.0, commit 49ef33428c47235991acb4e185ea599b70c6dab4:
concatenated_forward, dpo_loss, get_batch_loss_metrics) and the DPO / IPO / robust-DPO papers.

  * chosen and rejected go through the model in one concatenated batch [chosen..., rejected...];
    each is prompt ids + completion ids, the prompt masked (-100), the completion supervised;
  * a sequence's log-prob is the sum over its supervised tokens of log_softmax(logits[t-1])[id_t];
  * IPO (TRL quirk): the policy's AND the reference's log-probs are divided by the completion
    token count before anything else, so rewards/*, logps/* are per-token averages for IPO;
  * logits = (pi_c - pi_r) - (ref_c - ref_r);
    sigmoid: -logsigmoid(b l)(1-e) - logsigmoid(-b l) e   (label smoothing e, cDPO)
    ipo:     (l - 1/(2b))^2
    robust:  (-logsigmoid(b l)(1-e) + logsigmoid(-b l) e) / (1 - 2e)
    loss = mean over pairs;
  * rewards = b (policy - reference), detached; accuracies = mean(chosen > rejected) (strict);
    margins = mean(chosen - rejected); logps/* = mean policy log-prob;
    logits/chosen (rejected) = mean over every vocabulary entry of the logits at every position
    that predicts a chosen (rejected) completion token, pooled over the batch's chosen
    (rejected) rows (TRL: logits[:n][loss_mask[:n]].mean()).

The reference model is the LoRA policy with its adapters disabled (TRL's null_ref_context for a
PEFT model), or precomputed log-probs given with the pairs. The model, weights and batching are
make_llava_reference.py's (imported). The LoRA adapter (r 4, alpha 8, no dropout) has A drawn as
PEFT does and B drawn nonzero, so the policy differs from the reference; it is written as a PEFT
folder, Fixtures/tiny-llava-lora-dpo/, which the C# test loads. A last part, "training", runs three
optimizer steps of DPO on the LoRA tensors (see train()). The trained tensors are every
LoRA A/B and the projector (LLaVA's LoRA stage); their gradients are written whole for the tensors in FULL
and as norms for all.

    /usr/bin/python3 tests/SynthVlm.Vlm.Tests/Fixtures/make_dpo_reference.py
"""
import base64
import json
import math
import os
import sys

import sentencepiece as spm
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_llava_reference as ref  # noqa: E402
import make_lora_training_reference as lt  # noqa: E402

ADAPTER = "tiny-llava-lora-dpo"
RANK, ALPHA, SEED = 4, 8.0, 11
CASES = [
    {"name": "sigmoid", "loss_type": "sigmoid", "beta": 0.1, "label_smoothing": 0.0},
    {"name": "sigmoid_smoothed", "loss_type": "sigmoid", "beta": 0.5, "label_smoothing": 0.1},
    {"name": "ipo", "loss_type": "ipo", "beta": 0.1, "label_smoothing": 0.0},
    {"name": "robust", "loss_type": "robust", "beta": 0.1, "label_smoothing": 0.2},
]
TRAIN_CASE = {"name": "train", "loss_type": "sigmoid", "beta": 0.1, "label_smoothing": 0.0}
TRAIN_STEPS, TRAIN_MICRO, TRAIN_LR, TRAIN_MAX_NORM = 3, [[0, 1], [2]], 1e-3, 1.0
# Precomputed reference log-probs: the computed ones shifted by these, so rewards change sign.
PRECOMPUTED_SHIFT = [(-8.0, 0.5), (-2.0, 0.5), (0.25, 0.125)]


def pairs(sp):
    head = [1] + sp.encode(ref.SYSTEM + " USER: ")

    def image_prompt(question):
        return head + [ref.IMAGE] + sp.encode("\n" + question + " ASSISTANT:")

    def completion(text):
        return sp.encode(text) + [2]

    return [
        {"id": "pair-image-0", "image": 0, "prompt_ids": image_prompt("Describe the image."),
         "chosen_ids": completion("A red bird on a snowy mountain."),
         "rejected_ids": completion("Two cats sit on a blue boat near a lake at dawn.")},
        {"id": "pair-text", "image": None,
         "prompt_ids": head + sp.encode("Name a boat. ASSISTANT:"),
         "chosen_ids": completion("A small blue boat with two red sails."),
         "rejected_ids": completion("A cat.")},
        # The chosen completion runs past the context (128 after the 9 image positions): cut inside it.
        {"id": "pair-image-1-truncated", "image": 1, "prompt_ids": image_prompt("What is in the picture?"),
         "chosen_ids": completion("There are 2 cats and 13 birds. The cats sit on a red boat. The birds fly over a snowy mountain at dawn."),
         "rejected_ids": completion("A dog runs in the snow.")},
    ]


def make_lora(W):
    torch.manual_seed(SEED)
    lora = {}
    for path in lt.target_paths():
        out_features, in_features = W[path + ".weight"].shape
        a = torch.empty(RANK, in_features)
        torch.nn.init.kaiming_uniform_(a, a=math.sqrt(5))
        b = torch.round(torch.randn(out_features, RANK) * 0.2 * 256) / 256  # exact in float32 and short
        lora[path] = (a, b)
    return lora


# Tensors whose whole gradient is stored (float32 little-endian, base64); the others are summarised by their norm.
FULL = ["base_model.model.language_model.model.layers.0.self_attn.q_proj.lora_A.weight",
        "base_model.model.language_model.model.layers.0.self_attn.q_proj.lora_B.weight",
        "base_model.model.language_model.model.layers.0.self_attn.v_proj.lora_A.weight",
        "base_model.model.language_model.model.layers.0.self_attn.v_proj.lora_B.weight",
        "base_model.model.language_model.model.layers.0.mlp.up_proj.lora_A.weight",
        "base_model.model.language_model.model.layers.1.mlp.down_proj.lora_A.weight",
        "base_model.model.language_model.model.layers.1.mlp.down_proj.lora_B.weight",
        "multi_modal_projector.linear_1.bias", "multi_modal_projector.linear_2.bias"]


def summary(name, g):
    flat = g.detach().flatten()
    out = {"norm": flat.double().norm().item()}
    if name in FULL:
        out["float32_base64"] = base64.b64encode(flat.float().numpy().astype("<f4").tobytes()).decode("ascii")
    return out


def concatenated(data):
    seqs = []
    for side in ("chosen_ids", "rejected_ids"):
        for p in data:
            seqs.append((p["prompt_ids"] + p[side], [ref.IGNORE] * len(p["prompt_ids"]) + p[side]))
    return seqs


def forward_logps(E, data, pixels):
    """Summed completion log-probs per row, completion token counts, and the logits with their mask."""
    images = [p["image"] for p in data if p["image"] is not None]
    px = torch.cat([pixels[images], pixels[images]]) if images else None
    embeds, mask, pos, labels = ref.prepare(E, concatenated(data), px)
    logits = ref.llama_logits(E, embeds, mask, pos)
    shift_logits, shift_labels = logits[:, :-1], labels[:, 1:]
    loss_mask = shift_labels != ref.IGNORE
    safe = shift_labels.masked_fill(~loss_mask, 0)
    per_token = torch.gather(shift_logits.log_softmax(-1), 2, safe[..., None]).squeeze(-1)
    per_token = per_token * loss_mask
    return per_token.sum(-1), loss_mask.sum(-1), shift_logits, loss_mask


def dpo(case, policy, reference, counts, shift_logits, loss_mask, n):
    beta, eps = case["beta"], case["label_smoothing"]
    if case["loss_type"] == "ipo":
        policy = policy / counts
        reference = reference / counts
    pc, pr = policy[:n], policy[n:]
    rc, rr = reference[:n], reference[n:]
    logits = (pc - pr) - (rc - rr)
    if case["loss_type"] == "sigmoid":
        losses = -F.logsigmoid(beta * logits) * (1 - eps) - F.logsigmoid(-beta * logits) * eps
    elif case["loss_type"] == "ipo":
        losses = (logits - 1 / (2 * beta)) ** 2
    else:
        losses = (-F.logsigmoid(beta * logits) * (1 - eps) + F.logsigmoid(-beta * logits) * eps) / (1 - 2 * eps)
    chosen_rewards = beta * (pc - rc).detach()
    rejected_rewards = beta * (pr - rr).detach()
    metrics = {
        "rewards/chosen": chosen_rewards.mean().item(),
        "rewards/rejected": rejected_rewards.mean().item(),
        "rewards/accuracies": (chosen_rewards > rejected_rewards).float().mean().item(),
        "rewards/margins": (chosen_rewards - rejected_rewards).mean().item(),
        "logps/chosen": pc.detach().mean().item(),
        "logps/rejected": pr.detach().mean().item(),
        "logits/chosen": shift_logits[:n][loss_mask[:n]].detach().mean().item(),
        "logits/rejected": shift_logits[n:][loss_mask[n:]].detach().mean().item(),
    }
    per_pair = {"chosen_rewards": chosen_rewards.tolist(), "rejected_rewards": rejected_rewards.tolist(),
                "losses": losses.detach().tolist()}
    return losses.mean(), metrics, per_pair


def train(weights, lora, data, pixels):
    """TRAIN_STEPS DPO steps (sigmoid) on the LoRA tensors only, the projector frozen: micro-batches
    TRAIN_MICRO of the pairs, each loss divided by their count (gradient accumulation), clip_grad_norm_,
    AdamW (betas 0.9/0.999, eps 1e-8, no weight decay) at a constant rate, zero_grad. The reference is
    the base model (adapters disabled), computed per micro-batch without gradient."""
    case = TRAIN_CASE
    scaling = ALPHA / RANK
    params = {}
    for path, (a, b) in lora.items():
        params[lt.PEFT_PREFIX + path + ".lora_A.weight"] = a.clone().requires_grad_(True)
        params[lt.PEFT_PREFIX + path + ".lora_B.weight"] = b.clone().requires_grad_(True)
    ordered = [params[k] for k in sorted(params)]
    optimizer = torch.optim.AdamW(ordered, lr=TRAIN_LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    steps = []
    for _ in range(TRAIN_STEPS):
        step_loss, step_metrics = 0.0, []
        for micro in TRAIN_MICRO:
            subset = [data[i] for i in micro]
            E = dict(weights)
            for path in lora:
                a = params[lt.PEFT_PREFIX + path + ".lora_A.weight"]
                b = params[lt.PEFT_PREFIX + path + ".lora_B.weight"]
                E[path + ".weight"] = weights[path + ".weight"] + scaling * (b @ a)
            with torch.no_grad():
                reference, counts, _, _ = forward_logps(weights, subset, pixels)
            policy, counts, shift_logits, loss_mask = forward_logps(E, subset, pixels)
            loss, metrics, _ = dpo(case, policy, reference, counts, shift_logits, loss_mask, len(subset))
            (loss / len(TRAIN_MICRO)).backward()
            step_loss += loss.item() / len(TRAIN_MICRO)
            step_metrics.append(metrics)
        norm = float(torch.nn.utils.clip_grad_norm_(ordered, TRAIN_MAX_NORM))
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        mean = {k: sum(m[k] for m in step_metrics) / len(step_metrics) for k in step_metrics[0]}
        steps.append({"loss": step_loss, "grad_norm": norm, "metrics": mean})
        print("train step loss", round(step_loss, 6), "|g|", round(norm, 5), "margin", round(mean["rewards/margins"], 5))
    return dict(case, steps=steps, micro_batches=TRAIN_MICRO, lr=TRAIN_LR, max_grad_norm=TRAIN_MAX_NORM,
                trained={k: summary(k, v) for k, v in sorted(params.items())})


def main():
    torch.set_num_threads(1)
    sp = spm.SentencePieceProcessor(model_file=ref.TOKENIZER)
    weights = ref.make_weights()
    lora = make_lora(weights)
    lt.ADAPTER_DIR = os.path.join(HERE, ADAPTER)
    lt.RANK, lt.ALPHA = RANK, ALPHA
    lt.write_peft_folder(lora)
    g = torch.Generator().manual_seed(1)
    pixels = torch.round(torch.randn(2, 3, ref.VISION["image_size"], ref.VISION["image_size"], generator=g) * 64) / 64
    data = pairs(sp)
    n = len(data)
    scaling = ALPHA / RANK

    with torch.no_grad():
        ref_sums, counts, _, _ = forward_logps(weights, data, pixels)

    out_cases = []
    for case in CASES:
        for precomputed in (False, True):
            W = {k: v.clone().requires_grad_(k.startswith("multi_modal_projector.")) for k, v in weights.items()}
            params = {}
            for path, (a, b) in lora.items():
                params[lt.PEFT_PREFIX + path + ".lora_A.weight"] = a.clone().requires_grad_(True)
                params[lt.PEFT_PREFIX + path + ".lora_B.weight"] = b.clone().requires_grad_(True)
            E = dict(W)
            for path in lora:
                a = params[lt.PEFT_PREFIX + path + ".lora_A.weight"]
                b = params[lt.PEFT_PREFIX + path + ".lora_B.weight"]
                E[path + ".weight"] = W[path + ".weight"] + scaling * (b @ a)
            policy, _, shift_logits, loss_mask = forward_logps(E, data, pixels)
            reference = ref_sums.clone()
            given = None
            if precomputed:
                shift = torch.tensor([s[0] for s in PRECOMPUTED_SHIFT] + [s[1] for s in PRECOMPUTED_SHIFT], dtype=torch.float32)
                units = ref_sums / counts if case["loss_type"] == "ipo" else ref_sums
                given = (units + shift).tolist()
                # Precomputed values are in the objective's units (per-token averages for IPO), as TRL stores them.
                reference = torch.tensor(given) * (counts if case["loss_type"] == "ipo" else 1)
            loss, metrics, per_pair = dpo(case, policy, reference, counts, shift_logits, loss_mask, n)

            def units_of(logps, case=case):
                return (logps / counts if case["loss_type"] == "ipo" else logps).detach()

            loss.backward()
            grads = {k: summary(k, v.grad) for k, v in sorted(params.items())}
            grads.update({k: summary(k, W[k].grad) for k in sorted(W) if W[k].requires_grad})
            total = math.sqrt(sum(v["norm"] ** 2 for v in grads.values()))
            out_cases.append(dict(case, precomputed=precomputed,
                                  reference_logps=None if given is None else {"chosen": given[:n], "rejected": given[n:]},
                                  loss=loss.item(), metrics=metrics, per_pair=per_pair,
                                  policy_logps={"chosen": units_of(policy)[:n].tolist(), "rejected": units_of(policy)[n:].tolist()},
                                  gradient_norm=total, gradients=grads))
            print(case["name"], "precomputed" if precomputed else "computed", "loss", round(loss.item(), 6),
                  "acc", metrics["rewards/accuracies"], "margin", round(metrics["rewards/margins"], 5), "|g|", round(total, 5))

    out_training = train(weights, lora, data, pixels)

    out = {
        "about": "make_dpo_reference.py: DPO objective (TRL v0.28.0 definitions) on the tiny LLaVA with LoRA, PyTorch " + torch.__version__,
        "adapter": ADAPTER, "rank": RANK, "alpha": ALPHA,
        "pairs": data, "completion_tokens": {"chosen": counts[:n].tolist(), "rejected": counts[n:].tolist()},
        "reference_logps": {"chosen": ref_sums[:n].tolist(), "rejected": ref_sums[n:].tolist()},
        "cases": out_cases,
        "training": out_training,
    }
    with open(os.path.join(HERE, "dpo_reference.json"), "w") as f:
        json.dump(out, f)
    print("completion tokens", counts.tolist())


if __name__ == "__main__":
    main()

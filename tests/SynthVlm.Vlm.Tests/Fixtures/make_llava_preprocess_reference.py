#!/usr/bin/env python3
"""Regenerates llava_preprocess_reference.json: LLaVA's training input_ids and labels for the
conversations in llava_preprocess_conversations.json (LLaVA's data JSON plus a "template" key
per sample: "plain" or "vicuna_v1"), with the tiny LLaMA tokenizer
(lib/SynthVlm.Vlm/Tiny/Resources/tokenizer.model), once as a legacy tokenizer (no "legacy" key,
as LLaVA's Vicuna) and once with legacy=False. Run with Debian's python3-sentencepiece:

    /usr/bin/python3 tests/SynthVlm.Vlm.Tests/Fixtures/make_llava_preprocess_reference.py

How the reference is made: transformers and LLaVA are not installed here, so this script
re-implements, from their public definitions (haotian-liu/LLaVA llava/train/train.py,
llava/mm_utils.py, llava/conversation.py), preprocess_multimodal, preprocess_plain,
preprocess_v1 and tokenizer_image_token, on top of SlowLlamaTokenizer from
tests/SynthVlm.Tokenizers.Tests/Fixtures/make_llama_reference_ids.py (the slow LlamaTokenizer's
rules over the real sentencepiece library; its own ids are checked there). As in LLaVA's
train.py for the v1 and plain versions, pad_token = unk_token, so total_len counts the ids that
are not <unk>; tokenizers >= 0.14 is assumed (IS_TOKENIZER_GREATER_THAN_0_14). Where LLaVA
prints "tokenization mismatch" and masks the whole sample, the row says "mismatch": true and
keeps the labels LLaVA computed before masking everything (SynthVlm refuses such samples).
"""
import copy
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "SynthVlm.Tokenizers.Tests", "Fixtures"))
from make_llama_reference_ids import SlowLlamaTokenizer  # noqa: E402

IGNORE_INDEX = -100
IMAGE_TOKEN_INDEX = -200
DEFAULT_IMAGE_TOKEN = "<image>"
TOKENIZER_FOLDER = os.path.join(ROOT, "lib", "SynthVlm.Vlm", "Tiny", "Resources")

SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
          "The assistant gives helpful, detailed, and polite answers to the user's questions.")
ROLES = ("USER", "ASSISTANT")
SEP, SEP2 = " ", "</s>"
PLAIN_SEP = "\n"


def get_prompt_two(messages):
    """conv_vicuna_v1.get_prompt(), SeparatorStyle.TWO."""
    seps = [SEP, SEP2]
    ret = SYSTEM + seps[0]
    for i, (role, message) in enumerate(messages):
        if message:
            ret += role + ": " + message + seps[i % 2]
        else:
            ret += role + ":"
    return ret


def tokenizer_image_token(prompt, tok):
    chunks = [tok(chunk) for chunk in prompt.split(DEFAULT_IMAGE_TOKEN)]
    ids = []
    offset = 0
    if len(chunks) > 0 and len(chunks[0]) > 0 and chunks[0][0] == tok.bos_id:
        offset = 1
        ids.append(chunks[0][0])
    separated = []
    for i, chunk in enumerate(chunks):
        if i > 0:
            separated.append([IMAGE_TOKEN_INDEX] * (offset + 1))
        separated.append(chunk)
    for x in separated:
        ids.extend(x[offset:])
    return ids


def preprocess_multimodal(source):
    for sentence in source:
        if DEFAULT_IMAGE_TOKEN in sentence["value"]:
            value = sentence["value"].replace(DEFAULT_IMAGE_TOKEN, "").strip()
            sentence["value"] = (DEFAULT_IMAGE_TOKEN + "\n" + value).strip()
    return source


def preprocess_plain(source, tok):
    assert len(source) == 2
    assert DEFAULT_IMAGE_TOKEN in source[0]["value"]
    source[0]["value"] = DEFAULT_IMAGE_TOKEN
    conversation = source[0]["value"] + source[1]["value"] + PLAIN_SEP
    input_ids = tokenizer_image_token(conversation, tok)
    target = list(input_ids)
    tokenized_len = len(tokenizer_image_token(source[0]["value"], tok))
    target[:tokenized_len] = [IGNORE_INDEX] * min(tokenized_len, len(target))
    return input_ids, target, False


def preprocess_v1(source, tok, has_image, model_max_length):
    roles = {"human": ROLES[0], "gpt": ROLES[1]}
    if roles[source[0]["from"]] != ROLES[0]:
        source = source[1:]
    messages = []
    for j, sentence in enumerate(source):
        role = roles[sentence["from"]]
        assert role == ROLES[j % 2]
        messages.append((role, sentence["value"]))
    conversation = get_prompt_two(messages)
    input_ids = tokenizer_image_token(conversation, tok) if has_image else tok(conversation)
    target = list(input_ids)
    pad_id = tok.token_ids[tok.unk_token]  # LLaVA: tokenizer.pad_token = tokenizer.unk_token
    total_len = sum(1 for t in target if t != pad_id)
    sep = SEP + ROLES[1] + ": "
    rounds = conversation.split(SEP2)
    cur_len = 1
    target[:cur_len] = [IGNORE_INDEX]
    for i, rou in enumerate(rounds):
        if rou == "":
            break
        parts = rou.split(sep)
        if len(parts) != 2:
            break
        parts[0] += sep
        if has_image:
            round_len = len(tokenizer_image_token(rou, tok))
            instruction_len = len(tokenizer_image_token(parts[0], tok)) - 2
        else:
            round_len = len(tok(rou))
            instruction_len = len(tok(parts[0])) - 2
        if i != 0 and not tok.legacy:
            round_len -= 1
            instruction_len -= 1
        end = min(cur_len + instruction_len, len(target))
        for k in range(cur_len, end):
            target[k] = IGNORE_INDEX
        cur_len += round_len
    for k in range(cur_len, len(target)):
        target[k] = IGNORE_INDEX
    mismatch = cur_len < model_max_length and cur_len != total_len
    return input_ids, target, mismatch


def main():
    with open(os.path.join(HERE, "llava_preprocess_conversations.json"), encoding="utf-8") as f:
        samples = json.load(f)
    model_max_length = 2048
    out = {"model_max_length": model_max_length, "tokenizers": {}}
    for name, legacy in (("legacy", True), ("nonlegacy", False)):
        tok = SlowLlamaTokenizer(TOKENIZER_FOLDER)
        tok.legacy = legacy
        rows = []
        for sample in samples:
            source = copy.deepcopy(sample["conversations"])
            has_image = "image" in sample
            if has_image:
                source = preprocess_multimodal(source)
            if sample["template"] == "plain":
                input_ids, labels, mismatch = preprocess_plain(source, tok)
            else:
                input_ids, labels, mismatch = preprocess_v1(source, tok, has_image, model_max_length)
            rows.append({
                "id": sample["id"],
                "template": sample["template"],
                "has_image": has_image,
                "input_ids": input_ids,
                "labels": labels,
                "mismatch": mismatch,
            })
        out["tokenizers"][name] = rows
    # The generation prompt of LLaVA's eval scripts (vicuna_v1, image first).
    tok = SlowLlamaTokenizer(TOKENIZER_FOLDER)
    out["generation_prompts"] = [
        {"prompt": p, "input_ids": tokenizer_image_token(get_prompt_two([(ROLES[0], DEFAULT_IMAGE_TOKEN + "\n" + p), (ROLES[1], None)]), tok)}
        for p in ["What is in the picture?", "Describe the image concisely.", "Caf\u00e9 \u6771\u4eac?"]
    ]
    path = os.path.join(HERE, "llava_preprocess_reference.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    mismatches = {k: [r["id"] for r in v if r["mismatch"]] for k, v in out["tokenizers"].items()}
    print(f"wrote {path}: {len(samples)} samples x 2 tokenizers; mismatches {mismatches}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes a Hugging Face tokenizer.json for a LLaMA SentencePiece tokenizer.model, following the
semantics of transformers' LlamaConverter (convert_slow_tokenizer.py), for the second, independent
reference of LlamaTokenizerTests (make_llama_reference_ids_transformersjs.mjs):

- model: BPE with byte_fallback and fuse_unk, vocab = the .model's pieces by id, merges from the
  pieces as transformers' SentencePieceExtractor makes them (every split of a piece into two
  pieces of the vocabulary, ordered by the merged piece's score, best first; within a piece by the
  ids of its two halves);
- legacy=True: normalizer Prepend("\u2581") then Replace(" " -> "\u2581"), no pre-tokenizer
  (so every segment between added tokens gets the dummy prefix);
  legacy=False: no normalizer, pre-tokenizer Metaspace("\u2581", prepend_scheme "first", split false);
- post-processor: "<s> $A" when add_bos_token (and "</s>" when add_eos_token);
- decoder: Replace("\u2581" -> " "), ByteFallback, Fuse, Strip(" ", 1, 0);
- added tokens: <unk>, <s>, </s> (special), then added_tokens.json's, special when they are the
  pad token, all with normalized=false.

    /usr/bin/python3 llama_model_to_tokenizer_json.py FOLDER OUT_DIR

copies FOLDER's json files to OUT_DIR and writes OUT_DIR/tokenizer.json.
"""
import json
import os
import shutil
import sys

import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2 as model_pb2

SPIECE_UNDERLINE = "\u2581"


def read_json(folder, name):
    path = os.path.join(folder, name)
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def content(value, fallback):
    if isinstance(value, dict):
        return value["content"]
    return value if value is not None else fallback


def merges_of(proto):
    vocab = {p.piece: i for i, p in enumerate(proto.pieces)}
    scores = {p.piece: p.score for p in proto.pieces}
    merges = []
    for merged, score in scores.items():
        local = []
        for k in range(1, len(merged)):
            left, right = merged[:k], merged[k:]
            if left in vocab and right in vocab:
                local.append((left, right, score))
        local.sort(key=lambda m: (vocab[m[0]], vocab[m[1]]))
        merges.extend(local)
    merges.sort(key=lambda m: m[2], reverse=True)  # stable: ties keep the order above
    return vocab, [[m[0], m[1]] for m in merges]


def main(folder, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    for name in ("tokenizer_config.json", "special_tokens_map.json", "added_tokens.json"):
        if os.path.exists(os.path.join(folder, name)):
            shutil.copy(os.path.join(folder, name), os.path.join(out_dir, name))
    proto = model_pb2.ModelProto()
    with open(os.path.join(folder, "tokenizer.model"), "rb") as f:
        proto.ParseFromString(f.read())
    sp = spm.SentencePieceProcessor(model_file=os.path.join(folder, "tokenizer.model"))
    config = read_json(folder, "tokenizer_config.json")
    special_map = read_json(folder, "special_tokens_map.json")
    added = read_json(folder, "added_tokens.json")
    legacy = config.get("legacy", True)
    add_bos = config.get("add_bos_token", True)
    add_eos = config.get("add_eos_token", False)
    bos = content(config.get("bos_token", special_map.get("bos_token")), "<s>")
    eos = content(config.get("eos_token", special_map.get("eos_token")), "</s>")
    unk = content(config.get("unk_token", special_map.get("unk_token")), "<unk>")
    pad = content(config.get("pad_token", special_map.get("pad_token")), None)

    vocab, merges = merges_of(proto)

    def added_token(tok_id, text, special):
        return {"id": tok_id, "content": text, "single_word": False, "lstrip": False, "rstrip": False,
                "normalized": False, "special": special}

    added_tokens = [added_token(sp.piece_to_id(t), t, True) for t in (unk, bos, eos)]
    for text, tok_id in sorted(added.items(), key=lambda kv: kv[1]):
        added_tokens.append(added_token(tok_id, text, text == pad))

    if legacy:
        normalizer = {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": SPIECE_UNDERLINE},
            {"type": "Replace", "pattern": {"String": " "}, "content": SPIECE_UNDERLINE},
        ]}
        pre_tokenizer = None
    else:
        normalizer = None
        pre_tokenizer = {"type": "Metaspace", "replacement": SPIECE_UNDERLINE, "prepend_scheme": "first", "split": False}

    single = ([{"SpecialToken": {"id": bos, "type_id": 0}}] if add_bos else []) + [{"Sequence": {"id": "A", "type_id": 0}}] \
        + ([{"SpecialToken": {"id": eos, "type_id": 0}}] if add_eos else [])
    special_tokens = {}
    if add_bos:
        special_tokens[bos] = {"id": bos, "ids": [vocab[bos]], "tokens": [bos]}
    if add_eos:
        special_tokens[eos] = {"id": eos, "ids": [vocab[eos]], "tokens": [eos]}

    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added_tokens,
        "normalizer": normalizer,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": {"type": "TemplateProcessing", "single": single, "pair": single + single, "special_tokens": special_tokens},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": SPIECE_UNDERLINE}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0},
        ]},
        "model": {"type": "BPE", "dropout": None, "unk_token": unk, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": merges},
    }
    with open(os.path.join(out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer, f, ensure_ascii=False)
    print(f"wrote {out_dir}/tokenizer.json: {len(vocab)} pieces, {len(merges)} merges, legacy={legacy}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

#!/usr/bin/env python3
"""Regenerates llama_reference_ids.json: the ids Hugging Face's *slow* LlamaTokenizer
(use_fast=False, as LLaVA loads Vicuna) gives for the tiny LLaMA-style tokenizer folders
next to this file (tiny_llama: no "legacy" key, so legacy=True; tiny_llama_nonlegacy:
"legacy": false). Run from anywhere with Debian's python3-sentencepiece:

    /usr/bin/python3 tests/SynthVlm.Tokenizers.Tests/Fixtures/make_llama_reference_ids.py

transformers is not installed here, so the slow tokenizer's rules are written out below
(from transformers' tokenization_utils.py / tokenization_llama.py, 4.35-4.40 behaviour), on
top of the real sentencepiece library:

1. The text is split on the added and special tokens (<s>, </s>, <unk>, added_tokens.json),
   leftmost match first, longest token at that position; no whitespace is stripped around
   them (their AddedToken flags are all false). Empty pieces are dropped.
2. legacy=True: every text piece is encoded as sentencepiece encodes a fresh string, so each
   gets the dummy prefix "\u2581" ("</s>USER" -> </s>, \u2581USER...).
   legacy=False: "\u2581" is put in front of the whole text (after any "\u2581" in it became a
   space), and every text piece is encoded by a sentencepiece model whose add_dummy_prefix is
   switched off (a piece starting with a space keeps it, via transformers' "<unk>" + piece trick,
   which is the same as encoding it without a prefix). So only the start of the text gets the
   prefix; a piece after a special token gets none. When the text starts with a special token,
   the lone "\u2581" piece in front of it is dropped.
3. BOS is put first when add_bos_token, EOS last when add_eos_token (add_special_tokens=True).

The C# test (LlamaReferenceIdsTests) compares ids with and without special tokens, and the
plain sentencepiece decode of the ids of texts without special tokens.
"""
import json
import os

import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2 as model_pb2

HERE = os.path.dirname(os.path.abspath(__file__))
SPIECE_UNDERLINE = "\u2581"


def _token_content(value):
    if value is None:
        return None
    if isinstance(value, dict):
        return value["content"]
    return value


class SlowLlamaTokenizer:
    """The slow-tokenizer rules above over a folder with tokenizer.model and its json files."""

    def __init__(self, folder):
        model_path = os.path.join(folder, "tokenizer.model")
        self.sp = spm.SentencePieceProcessor(model_file=model_path)
        proto = model_pb2.ModelProto()
        with open(model_path, "rb") as f:
            proto.ParseFromString(f.read())
        proto.normalizer_spec.add_dummy_prefix = False
        self.sp_no_prefix = spm.SentencePieceProcessor(model_proto=proto.SerializeToString())

        config = self._read(folder, "tokenizer_config.json")
        special_map = self._read(folder, "special_tokens_map.json")
        added = self._read(folder, "added_tokens.json")

        def special(name, fallback):
            value = _token_content(config.get(name)) or _token_content(special_map.get(name))
            return value if value is not None else fallback

        self.bos_token = special("bos_token", "<s>")
        self.eos_token = special("eos_token", "</s>")
        self.unk_token = special("unk_token", "<unk>")
        self.pad_token = special("pad_token", None)
        self.add_bos = config.get("add_bos_token", True)
        self.add_eos = config.get("add_eos_token", False)
        self.legacy = config.get("legacy", True)
        self.added = dict(added)
        self.token_ids = {}
        for tok in (self.unk_token, self.bos_token, self.eos_token, self.pad_token):
            if tok is None:
                continue
            self.token_ids[tok] = self.added[tok] if tok in self.added else self.sp.piece_to_id(tok)
        self.token_ids.update(self.added)
        self.special_tokens = {t for t in (self.bos_token, self.eos_token, self.unk_token, self.pad_token) if t}

    @staticmethod
    def _read(folder, name):
        path = os.path.join(folder, name)
        if not os.path.exists(path):
            return {}
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    @property
    def bos_id(self):
        return self.token_ids[self.bos_token]

    @property
    def eos_id(self):
        return self.token_ids[self.eos_token]

    def _split(self, text):
        """Rule 1: pieces, each (is_token, string)."""
        out = []
        tokens = sorted(self.token_ids, key=len, reverse=True)
        start = 0
        i = 0
        while i < len(text):
            match = next((t for t in tokens if text.startswith(t, i)), None)
            if match is None:
                i += 1
                continue
            if i > start:
                out.append((False, text[start:i]))
            out.append((True, match))
            i += len(match)
            start = i
        if start < len(text):
            out.append((False, text[start:]))
        return out

    def tokenize_ids(self, text):
        """Rule 2: ids of the text without BOS/EOS."""
        if self.legacy or len(text) == 0:
            ids = []
            for is_token, piece in self._split(text):
                ids += [self.token_ids[piece]] if is_token else self.sp.encode(piece)
            return ids
        pieces = self._split(SPIECE_UNDERLINE + text.replace(SPIECE_UNDERLINE, " "))
        ids = []
        for is_token, piece in pieces:
            ids += [self.token_ids[piece]] if is_token else self.sp_no_prefix.encode(piece)
        if (len(pieces) > 1 and not pieces[0][0] and pieces[0][1] == SPIECE_UNDERLINE
                and pieces[1][0] and pieces[1][1] in self.special_tokens):
            ids = ids[len(self.sp_no_prefix.encode(SPIECE_UNDERLINE)):]
        return ids

    def __call__(self, text, add_special_tokens=True):
        """Rule 3: tokenizer(text).input_ids."""
        ids = self.tokenize_ids(text)
        if add_special_tokens:
            ids = ([self.bos_id] if self.add_bos else []) + ids + ([self.eos_id] if self.add_eos else [])
        return ids


TEXTS = [
    "",
    "a",
    "A red bus parked on a city street at night.",
    "A chat between a curious user and an artificial intelligence assistant.",
    "The assistant gives helpful, detailed, and polite answers to the user's questions.",
    "There are 2 cats and 13 birds.",
    "1234567890 and 3.14159, -42, 1e10",
    "two  spaces   three    four",
    " leading space",
    "   three leading",
    "trailing space ",
    "trailing spaces   ",
    " ",
    "   ",
    "line one\nline two",
    "\n",
    "\n\nDescribe\n",
    "tab\tseparated\tvalues",
    "emoji \U0001F600 and \U0001F436!",
    "\u6771\u4eac \u30bf\u30ef\u30fc \uc11c\uc6b8",
    "caf\u00e9 na\u00efve Z\u00fcrich",
    "cafe\u0301",
    "</s>",
    "<s>",
    "<unk>",
    "</s>USER",
    "hello</s>USER: hi",
    "hello </s> USER: hi",
    "<s>USER: hi",
    "<s> USER: hi",
    "a<s>b</s>c<unk>d",
    "USER: <image>\nDescribe it ASSISTANT:",
    "<image>\nWhat is in the picture?",
    "<image>",
    "<pad><pad>",
    "USER: What is in the picture? ASSISTANT: A photo of a dog.</s>",
    "</s></s>",
    "<s/> < s> </s >",
    "\u2581already\u2581escaped",
    "ALL CAPS SHOUTING, MiXeD cAsE",
    "symbols: @#$%^&*()_+-=[]{}|;':\",./<>?`~",
    "x" * 60,
]

FOLDERS = ["tiny_llama", "tiny_llama_nonlegacy"]


def main():
    out = {"folders": {}}
    for name in FOLDERS:
        tok = SlowLlamaTokenizer(os.path.join(HERE, name))
        rows = []
        for text in TEXTS:
            has_token = any(is_token for is_token, _ in tok._split(text))
            rows.append({
                "text": text,
                "ids": tok(text),
                "ids_no_special": tok(text, add_special_tokens=False),
                # Plain sentencepiece decode, only for texts without added/special tokens.
                "decoded": None if has_token else tok.sp.decode(tok(text, add_special_tokens=False)),
            })
        out["folders"][name] = {"legacy": tok.legacy, "rows": rows}
    path = os.path.join(HERE, "llama_reference_ids.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {path}: {len(TEXTS)} texts x {len(FOLDERS)} folders")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""A tiny BLIP image-text matching model for the tests, and its PyTorch reference outputs.

The network is this script's OWN PyTorch re-implementation of the ITM path of Hugging Face
BlipForImageTextRetrieval(use_itm_head=True), written from the published definitions in transformers
models/blip (modeling_blip.py, modeling_blip_text.py):
  vision: Conv2d patch embedding (bias) + class token + learned positions (no pre-norm); pre-LN
    encoder layers (LayerNorm eps 1e-5, fused qkv Linear, scale head_dim^-0.5, output projection,
    MLP fc1 -> exact GELU -> fc2); post_layernorm over all tokens.
  text: word + absolute position embeddings (no token types), LayerNorm eps 1e-12; post-LN BERT
    layers: self-attention (padding mask (1 - mask) * -10000), cross-attention from every text token
    to ALL image tokens (image mask all ones; key/value Linear(vision_hidden -> text_hidden)),
    intermediate GELU, output; itm_head Linear(text_hidden, 2) on token 0.
Weights are seeded random. It is exported with torch.onnx.export to the folder layout BlipItmModel
reads (itm.onnx, vocab.txt, blip_itm.json) and scored on committed (image, caption) pairs: images go
through make_reference_preprocess.preprocess (Pillow + numpy), captions through google-research/bert's
BasicTokenizer + WordpieceTokenizer (see make_reference_tokenizer.py; BERT_REPO must point at it),
truncated to max_text_length - 2 pieces, then [CLS] ... [SEP]. Each pair is scored ALONE (no
padding); the script checks that a right-padded batch gives the same logits.

    BERT_REPO=/work/official/bert /usr/bin/python3 tests/SynthVlm.Blip.Tests/Fixtures/make_tiny_blip.py

Requires torch 1.13 (CPU) and onnx (Debian python3-onnx; torch.onnx.export uses it). Writes
tiny-blip/{itm.onnx, vocab.txt, blip_itm.json} and tiny-blip-reference.json.
"""
import json
import math
import os
import shutil
import sys

import numpy as np
import torch
from PIL import Image
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # importing the sibling fixture scripts leaves no __pycache__
sys.path.insert(0, HERE)
import make_reference_preprocess as pre  # noqa: E402
import make_reference_tokenizer as reftok  # noqa: E402

OUT = os.path.join(HERE, "tiny-blip")
IMAGE_SIZE, PATCH = 32, 8
V_HIDDEN, V_HEADS, V_LAYERS, V_INTER = 24, 4, 2, 48
T_HIDDEN, T_HEADS, T_LAYERS, T_INTER = 32, 4, 2, 64
MAX_POS = 16

PAIRS = [
    ("wide.png", "a red car on the road"),
    ("exact.png", "a cat"),
    ("tall.png", "two small dogs playing with a ball in the green field next to the big house and a tree"),
    ("graya.png", ""),
    ("tiny.png", "Tom &amp; Jerry ❤️ Café"),
    ("exact.png", "a red car on the road"),
    ("wide.png", "一只猫在沙发上"),
]


class VisionLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(V_HIDDEN, eps=1e-5)
        self.qkv = nn.Linear(V_HIDDEN, 3 * V_HIDDEN)
        self.projection = nn.Linear(V_HIDDEN, V_HIDDEN)
        self.layer_norm2 = nn.LayerNorm(V_HIDDEN, eps=1e-5)
        self.fc1 = nn.Linear(V_HIDDEN, V_INTER)
        self.fc2 = nn.Linear(V_INTER, V_HIDDEN)

    def forward(self, x):
        n, length, _ = x.shape
        d = V_HIDDEN // V_HEADS
        h = self.layer_norm1(x)
        q, k, v = self.qkv(h).reshape(n, length, 3, V_HEADS, d).permute(2, 0, 3, 1, 4)
        att = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * d ** -0.5, dim=-1)
        ctx = torch.matmul(att, v).permute(0, 2, 1, 3).reshape(n, length, V_HIDDEN)
        x = x + self.projection(ctx)
        return x + self.fc2(nn.functional.gelu(self.fc1(self.layer_norm2(x))))


class Vision(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(3, V_HIDDEN, PATCH, PATCH)
        self.cls = nn.Parameter(torch.zeros(1, 1, V_HIDDEN))
        self.pos = nn.Parameter(torch.zeros(1, (IMAGE_SIZE // PATCH) ** 2 + 1, V_HIDDEN))
        self.layers = nn.ModuleList([VisionLayer() for _ in range(V_LAYERS)])
        self.post_layernorm = nn.LayerNorm(V_HIDDEN, eps=1e-5)

    def forward(self, pixels):
        p = self.patch(pixels).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(p.shape[0], 1, V_HIDDEN), p], dim=1) + self.pos
        for layer in self.layers:
            x = layer(x)
        return self.post_layernorm(x)


class TextAttention(nn.Module):
    def __init__(self, kv_width):
        super().__init__()
        self.query = nn.Linear(T_HIDDEN, T_HIDDEN)
        self.key = nn.Linear(kv_width, T_HIDDEN)
        self.value = nn.Linear(kv_width, T_HIDDEN)
        self.dense = nn.Linear(T_HIDDEN, T_HIDDEN)
        self.norm = nn.LayerNorm(T_HIDDEN, eps=1e-12)

    def forward(self, x, context, bias):
        n, length, _ = x.shape
        d = T_HIDDEN // T_HEADS

        def heads(t):
            return t.reshape(t.shape[0], t.shape[1], T_HEADS, d).transpose(1, 2)

        q, k, v = heads(self.query(x)), heads(self.key(context)), heads(self.value(context))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d)
        if bias is not None:
            scores = scores + bias
        ctx = torch.matmul(torch.softmax(scores, dim=-1), v).permute(0, 2, 1, 3).reshape(n, length, T_HIDDEN)
        return self.norm(self.dense(ctx) + x)


class TextLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.self_attention = TextAttention(T_HIDDEN)
        self.cross_attention = TextAttention(V_HIDDEN)
        self.intermediate = nn.Linear(T_HIDDEN, T_INTER)
        self.output = nn.Linear(T_INTER, T_HIDDEN)
        self.norm = nn.LayerNorm(T_HIDDEN, eps=1e-12)

    def forward(self, x, bias, image):
        x = self.self_attention(x, x, bias)
        x = self.cross_attention(x, image, None)
        return self.norm(self.output(nn.functional.gelu(self.intermediate(x))) + x)


class TinyBlipItm(nn.Module):
    def __init__(self, vocab_size):
        super().__init__()
        self.vision = Vision()
        self.words = nn.Embedding(vocab_size, T_HIDDEN)
        self.positions = nn.Embedding(MAX_POS, T_HIDDEN)
        self.embed_norm = nn.LayerNorm(T_HIDDEN, eps=1e-12)
        self.layers = nn.ModuleList([TextLayer() for _ in range(T_LAYERS)])
        self.itm_head = nn.Linear(T_HIDDEN, 2)
        self.register_buffer("position_ids", torch.arange(MAX_POS).unsqueeze(0), persistent=False)

    def forward(self, pixel_values, input_ids, attention_mask):
        image = self.vision(pixel_values)
        length = input_ids.shape[1]
        x = self.embed_norm(self.words(input_ids) + self.positions(self.position_ids[:, :length]))
        bias = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * -10000.0
        for layer in self.layers:
            x = layer(x, bias, image)
        return self.itm_head(x[:, 0, :])


def init_weights(model):
    g = torch.Generator().manual_seed(20261207)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.startswith("itm_head"):
                p.copy_(0.12 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.3 * torch.randn(p.shape, generator=g))


def main():
    tokenization = reftok.load_reference()
    os.makedirs(OUT, exist_ok=True)
    vocab_src = os.path.join(HERE, "tokenizer", "vocab.txt")
    shutil.copyfile(vocab_src, os.path.join(OUT, "vocab.txt"))
    vocab = tokenization.load_vocab(vocab_src)
    basic = tokenization.BasicTokenizer(do_lower_case=True)
    wordpiece = tokenization.WordpieceTokenizer(vocab=vocab, max_input_chars_per_word=100)

    def encode(text):
        pieces = [p for w in basic.tokenize(text) for p in wordpiece.tokenize(w)][: MAX_POS - 2]
        return tokenization.convert_tokens_to_ids(vocab, ["[CLS]"] + pieces + ["[SEP]"])

    torch.manual_seed(0)
    model = TinyBlipItm(len(vocab)).eval()
    init_weights(model)

    config = {
        "model_type": "blip-itm",
        "source": "tiny random BLIP written by tests/SynthVlm.Blip.Tests/Fixtures/make_tiny_blip.py",
        "image_size": IMAGE_SIZE,
        "image_mean": pre.MEAN.tolist(),
        "image_std": pre.STD.tolist(),
        "rescale_factor": 1 / 255,
        "resample": 3,
        "max_text_length": MAX_POS,
        "do_lower_case": True,
    }
    with open(os.path.join(OUT, "blip_itm.json"), "w") as f:
        json.dump(config, f, indent=2)

    results = []
    rows = []
    with torch.no_grad():
        for image, caption in PAIRS:
            pixels = torch.from_numpy(pre.preprocess(Image.open(os.path.join(pre.HERE, image)), IMAGE_SIZE))[None]
            ids = encode(caption)
            logits = model(pixels, torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long))[0]
            prob = torch.softmax(logits, dim=-1)[1]
            rows.append((pixels, ids))
            results.append({"image": image, "caption": caption, "input_ids": ids,
                            "logits": [float(v) for v in logits], "probability": float(prob)})
        # The same pairs right-padded into one batch must give the same logits.
        t = max(len(ids) for _, ids in rows)
        ids = torch.zeros(len(rows), t, dtype=torch.long)
        mask = torch.zeros(len(rows), t, dtype=torch.long)
        for i, (_, r) in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r)
            mask[i, : len(r)] = 1
        batch = model(torch.cat([p for p, _ in rows]), ids, mask)
        single = torch.tensor([r["logits"] for r in results])
        assert torch.allclose(batch, single, atol=1e-5), (batch, single)

        torch.onnx.export(
            model, (torch.cat([p for p, _ in rows]), ids, mask), os.path.join(OUT, "itm.onnx"),
            input_names=["pixel_values", "input_ids", "attention_mask"], output_names=["itm_logits"],
            dynamic_axes={"pixel_values": {0: "batch"}, "input_ids": {0: "batch", 1: "sequence"},
                          "attention_mask": {0: "batch", 1: "sequence"}, "itm_logits": {0: "batch"}},
            opset_version=17, do_constant_folding=True)

    with open(os.path.join(HERE, "tiny-blip-reference.json"), "w") as f:
        json.dump({"max_text_length": MAX_POS, "pairs": results}, f, ensure_ascii=True, indent=1)
    for r in results:
        print(r["probability"], r["logits"], r["input_ids"])


if __name__ == "__main__":
    main()

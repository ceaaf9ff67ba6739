#!/usr/bin/python3
"""A BLIP-shaped random ITM graph, larger than the tests' tiny BLIP, for BlipItmBench (not a test fixture).

It reuses the network of tests/SynthVlm.Blip.Tests/Fixtures/make_tiny_blip.py (this project's own PyTorch
re-implementation of Hugging Face BlipForImageTextRetrieval's ITM path) with other sizes: BLIP's real image
geometry (384x384, 16x16 patches: 577 vision tokens, so preprocessing and attention cost what they cost on
BLIP-base) but narrower and shallower transformers (hidden 256, 4 heads, 4 vision and 4 text layers, MLP 1024),
so a 2-core machine measures it in about a minute. Weights are seeded random: the probabilities mean nothing,
only the time does. Writes itm.onnx, vocab.txt (the tiny BLIP's vocabulary) and blip_itm.json to OUT_DIR:

    /usr/bin/python3 bench/SynthVlm.Bench.Curation/make_bench_blip.py /tmp/blip-bench
    dotnet bench/SynthVlm.Bench.Curation/bin/Release/net10.0/SynthVlm.Bench.Curation.dll --blip /tmp/blip-bench --itm-pairs 32

Requires torch 1.13 (CPU) and onnx (Debian python3-onnx). BERT_REPO is not needed (no tokenization here).
"""
import json
import os
import shutil
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "..", "tests", "SynthVlm.Blip.Tests", "Fixtures")
sys.dont_write_bytecode = True
sys.path.insert(0, FIXTURES)
import make_tiny_blip as blip  # noqa: E402

SIZES = dict(IMAGE_SIZE=384, PATCH=16, V_HIDDEN=256, V_HEADS=4, V_LAYERS=4, V_INTER=1024,
             T_HIDDEN=256, T_HEADS=4, T_LAYERS=4, T_INTER=1024, MAX_POS=40)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_bench_blip.py OUT_DIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, value in SIZES.items():
        setattr(blip, name, value)  # the modules read these module globals when built and run
    tiny = os.path.join(FIXTURES, "tiny-blip")
    shutil.copyfile(os.path.join(tiny, "vocab.txt"), os.path.join(out, "vocab.txt"))
    with open(os.path.join(tiny, "blip_itm.json")) as f:
        config = json.load(f)
    config.update(source="random BLIP-shaped graph written by bench/SynthVlm.Bench.Curation/make_bench_blip.py",
                  image_size=SIZES["IMAGE_SIZE"], max_text_length=SIZES["MAX_POS"])
    with open(os.path.join(out, "blip_itm.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(tiny, "vocab.txt"), encoding="utf-8") as f:
        vocab_size = sum(1 for _ in f)
    torch.manual_seed(0)
    model = blip.TinyBlipItm(vocab_size).eval()
    blip.init_weights(model)
    pixels = torch.zeros(2, 3, SIZES["IMAGE_SIZE"], SIZES["IMAGE_SIZE"])
    ids = torch.ones(2, 7, dtype=torch.long)
    mask = torch.ones(2, 7, dtype=torch.long)
    with torch.no_grad():
        torch.onnx.export(
            model, (pixels, ids, mask), os.path.join(out, "itm.onnx"),
            input_names=["pixel_values", "input_ids", "attention_mask"], output_names=["itm_logits"],
            dynamic_axes={"pixel_values": {0: "batch"}, "input_ids": {0: "batch", 1: "sequence"},
                          "attention_mask": {0: "batch", 1: "sequence"}, "itm_logits": {0: "batch"}},
            opset_version=17, do_constant_folding=True)
    print(f"{out}: {sum(p.numel() for p in model.parameters())} parameters")


if __name__ == "__main__":
    main()

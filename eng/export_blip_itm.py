#!/usr/bin/env python3
"""Export a Hugging Face BLIP image-text matching checkpoint to SynthVlm's BLIP ITM folder layout.

SynthVlm scores (image, caption) pairs with BLIP's ITM head the way Data-Juicer's
image_text_matching_filter does (BlipForImageTextRetrieval, use_itm_head=True, softmax over the
two logits, index 1). lib/SynthVlm.Blip/BlipItmModel.cs loads a folder holding:

  itm.onnx        inputs  pixel_values   float32 [batch, 3, S, S]   (S = image_size)
                          input_ids      int64   [batch, sequence]  ([CLS] ... [SEP], right-padded with [PAD])
                          attention_mask int64   [batch, sequence]  (1 for tokens, 0 for padding)
                  output  itm_logits     float32 [batch, 2]         (index 1 = "match")
                  batch and sequence axes dynamic
  vocab.txt       the checkpoint's BERT WordPiece vocabulary
  blip_itm.json   {"image_size", "image_mean", "image_std", "rescale_factor", "resample",
                   "max_text_length" (= text_config.max_position_embeddings, Data-Juicer's
                   truncation length), "do_lower_case"}

Run it where PyTorch and transformers are installed and the weights can be downloaded (or are in
the Hugging Face cache); it does NOT run in SynthVlm's build environment (no transformers, no
weights there), so it is not part of the tests. The tests use a tiny BLIP in the same layout made
by tests/SynthVlm.Blip.Tests/Fixtures/make_tiny_blip.py.

    pip install torch transformers pillow onnx onnxruntime
    python eng/export_blip_itm.py --model Salesforce/blip-itm-base-coco --out models/blip-itm-base-coco --check
    # Salesforce/blip-itm-large-coco works the same way (image_size 384, ViT-L).

--check runs the exported graph with onnxruntime next to the PyTorch model on a few captions and
a synthetic image, through the Hugging Face processor, and fails when the logits differ by more
than --tolerance.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
from torch import nn

MODEL_FILE, VOCAB_FILE, CONFIG_FILE = "itm.onnx", "vocab.txt", "blip_itm.json"
PIL_FILTERS = {0, 1, 2, 3, 4}


class ItmLogits(nn.Module):
    """BlipForImageTextRetrieval's ITM path with the three inputs SynthVlm feeds, returning the logits."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values, input_ids, attention_mask):
        out = self.model(input_ids=input_ids, pixel_values=pixel_values, attention_mask=attention_mask,
                         use_itm_head=True, return_dict=True)
        return out.itm_score


def folder_config(model, processor):
    ip, tok = processor.image_processor, processor.tokenizer
    size = ip.size
    height, width = (size["height"], size["width"]) if isinstance(size, dict) else (size, size)
    if height != width:
        sys.exit(f"the image processor resizes to {height}x{width}; SynthVlm's BLIP folder expects a square size")
    vision_size = model.config.vision_config.image_size
    if vision_size != height:
        sys.exit(f"image processor size {height} differs from vision_config.image_size {vision_size}")
    resample = int(getattr(ip, "resample", 3))
    if resample not in PIL_FILTERS:
        sys.exit(f"resample {resample} is not a PIL filter number SynthVlm supports")
    return {
        "model_type": "blip-itm",
        "source": model.name_or_path,
        "image_size": int(height),
        "image_mean": [float(v) for v in ip.image_mean],
        "image_std": [float(v) for v in ip.image_std],
        "rescale_factor": float(getattr(ip, "rescale_factor", 1 / 255)),
        "resample": resample,
        "max_text_length": int(model.config.text_config.max_position_embeddings),
        "do_lower_case": bool(getattr(tok, "do_lower_case", True)),
    }


def export(args):
    from transformers import BlipForImageTextRetrieval, BlipProcessor

    model = BlipForImageTextRetrieval.from_pretrained(args.model).eval()
    processor = BlipProcessor.from_pretrained(args.model)
    os.makedirs(args.out, exist_ok=True)

    config = folder_config(model, processor)
    with open(os.path.join(args.out, CONFIG_FILE), "w") as f:
        json.dump(config, f, indent=2)
    # save_vocabulary writes vocab.txt (one token per line, line number = id) for BERT tokenizers.
    written = processor.tokenizer.save_vocabulary(args.out)
    if not any(os.path.basename(p) == VOCAB_FILE for p in written):
        sys.exit(f"the tokenizer wrote {written}, not {VOCAB_FILE}: not a BERT WordPiece tokenizer")

    s = config["image_size"]
    pixels = torch.zeros(2, 3, s, s)
    enc = processor.tokenizer(["a photo of a cat", "two dogs playing in the snow"], padding=True, return_tensors="pt")
    wrapper = ItmLogits(model)
    with torch.no_grad():
        torch.onnx.export(
            wrapper, (pixels, enc["input_ids"], enc["attention_mask"]), os.path.join(args.out, MODEL_FILE),
            input_names=["pixel_values", "input_ids", "attention_mask"], output_names=["itm_logits"],
            dynamic_axes={"pixel_values": {0: "batch"}, "input_ids": {0: "batch", 1: "sequence"},
                          "attention_mask": {0: "batch", 1: "sequence"}, "itm_logits": {0: "batch"}},
            opset_version=args.opset, do_constant_folding=True)
    print(f"wrote {args.out}/{{{MODEL_FILE}, {VOCAB_FILE}, {CONFIG_FILE}}}")
    return model, processor, wrapper, config


def check(args, processor, wrapper, config):
    import onnxruntime as ort
    from PIL import Image

    s = config["image_size"]
    y, x = np.mgrid[0:s + 37, 0:s + 11]
    image = Image.fromarray(np.stack([(x * 3) % 256, (y * 5) % 256, ((x + y) * 7) % 256], -1).astype(np.uint8), "RGB")
    captions = ["a photo of a cat", "a colourful striped pattern", "Café déjà vu — naïve résumé"]
    inputs = processor(images=[image] * len(captions), text=captions, return_tensors="pt", padding=True,
                       truncation=True, max_length=config["max_text_length"])
    session = ort.InferenceSession(os.path.join(args.out, MODEL_FILE), providers=["CPUExecutionProvider"])
    feeds = {"pixel_values": inputs["pixel_values"].numpy().astype(np.float32),
             "input_ids": inputs["input_ids"].numpy().astype(np.int64),
             "attention_mask": inputs["attention_mask"].numpy().astype(np.int64)}
    onnx_logits = session.run(["itm_logits"], feeds)[0]
    with torch.no_grad():
        torch_logits = wrapper(inputs["pixel_values"], inputs["input_ids"], inputs["attention_mask"]).numpy()
    diff = float(np.abs(onnx_logits - torch_logits).max())
    probs = torch.softmax(torch.from_numpy(onnx_logits), dim=-1)[:, 1].tolist()
    for caption, p, ids in zip(captions, probs, inputs["input_ids"].tolist()):
        print(f"  p(match) = {p:.4f}  {caption!r}  ids {ids}")
    print(f"max |onnx - torch| logit difference: {diff:.2e}")
    if diff > args.tolerance:
        sys.exit(f"the exported graph differs from PyTorch by {diff} (> {args.tolerance})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="Salesforce/blip-itm-base-coco", help="Hugging Face id or local folder")
    parser.add_argument("--out", required=True, help="folder to write itm.onnx, vocab.txt and blip_itm.json into")
    parser.add_argument("--opset", type=int, default=17)
    parser.add_argument("--check", action="store_true", help="compare onnxruntime with PyTorch after exporting")
    parser.add_argument("--tolerance", type=float, default=1e-3)
    args = parser.parse_args()
    _, processor, wrapper, config = export(args)
    if args.check:
        check(args, processor, wrapper, config)


if __name__ == "__main__":
    main()

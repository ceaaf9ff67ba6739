#!/usr/bin/python3
"""Reference BLIP image preprocessing, computed independently with Pillow + numpy.

Follows Hugging Face BlipImageProcessor's PIL path (transformers models/blip/image_processing_blip.py,
do_convert_rgb / do_resize / do_rescale / do_normalize all true): convert to RGB (alpha dropped, grey
replicated — PIL's Image.convert("RGB")), resize to size x size ignoring the aspect ratio with PIL's
bicubic filter (Image.resize, reducing_gap None; PIL returns a copy when the size already matches),
rescale as float64 * (1/255) then float32, normalise (x - mean) / std in float32 with OpenAI CLIP's
mean and std, channels first.

Regenerate (Debian python3-pil and python3-numpy at /usr/bin/python3):
    /usr/bin/python3 tests/SynthVlm.Blip.Tests/Fixtures/make_reference_preprocess.py
Writes preprocess/<name>.png (inputs, made here from formulas), preprocess/<name>_<size>.bin
(float32 little-endian, [3, size, size]), preprocess/<name>_<size>_<flip>.bin for images flipped
first as Data-Juicer's image_text_matching_filter does (ImageOps.mirror / ImageOps.flip), and
preprocess/cases.json. make_tiny_blip.py imports
`preprocess` and the images from here.
"""
import json
import os

import numpy as np
from PIL import Image, ImageOps

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "preprocess")
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)

# name, width, height, PIL mode of the stored PNG, seed
IMAGES = [
    ("wide", 45, 30, "RGB", 1),
    ("tall", 20, 50, "RGB", 2),
    ("exact", 32, 32, "RGB", 3),
    ("graya", 40, 40, "LA", 4),
    ("tiny", 5, 3, "RGB", 5),
]
SIZES = [32, 24]
# Data-Juicer's image_text_matching_filter flips the RGB image (ImageOps.mirror, then ImageOps.flip)
# before the processor: name, size, flip ("h", "v" or "hv").
FLIPS = [("wide", 32, "h"), ("tall", 32, "v"), ("graya", 24, "hv")]


def make_image(w, h, mode, seed):
    y, x = np.mgrid[0:h, 0:w]
    r = (x * 255 // max(w - 1, 1)).astype(np.uint8)
    g = np.where(((x // 3) + (y // 4) + seed) % 2 == 0, 220, 30).astype(np.uint8)
    b = ((x * x + 5 * y * y + seed * 37) % 256).astype(np.uint8)
    img = Image.fromarray(np.stack([r, g, b], axis=-1), "RGB")
    if mode == "LA":
        grey = img.convert("L")
        alpha = Image.fromarray(((x * 7 + y * 3) % 256).astype(np.uint8), "L")
        img = Image.merge("LA", (grey, alpha))
    return img


def preprocess(img, size):
    img = img.convert("RGB")
    if img.size != (size, size):
        img = img.resize((size, size), resample=Image.BICUBIC)
    a = np.asarray(img)
    f = (a.astype(np.float64) * (1 / 255)).astype(np.float32)
    f = (f - MEAN) / STD
    return np.ascontiguousarray(f.transpose(2, 0, 1).astype(np.float32))


def main():
    os.makedirs(HERE, exist_ok=True)
    cases = []
    for name, w, h, mode, seed in IMAGES:
        path = os.path.join(HERE, name + ".png")
        make_image(w, h, mode, seed).save(path)
        for size in SIZES:
            x = preprocess(Image.open(path), size)
            x.astype("<f4").tofile(os.path.join(HERE, f"{name}_{size}.bin"))
            cases.append({"image": name + ".png", "size": size, "flip": "", "values": f"{name}_{size}.bin"})
    for name, size, flip in FLIPS:
        img = Image.open(os.path.join(HERE, name + ".png")).convert("RGB")
        if "h" in flip:
            img = ImageOps.mirror(img)
        if "v" in flip:
            img = ImageOps.flip(img)
        preprocess(img, size).astype("<f4").tofile(os.path.join(HERE, f"{name}_{size}_{flip}.bin"))
        cases.append({"image": name + ".png", "size": size, "flip": flip, "values": f"{name}_{size}_{flip}.bin"})
    with open(os.path.join(HERE, "cases.json"), "w") as f:
        json.dump({"mean": MEAN.tolist(), "std": STD.tolist(), "cases": cases}, f, indent=1)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Reference CLIP image preprocessing, computed independently with Pillow + numpy.

Follows Hugging Face CLIPImageProcessor's slow path (PIL semantics): shortest edge resized to
`size` with PIL bicubic (long edge = int(size * long / short), no resize when the short edge
already matches), centre crop with top = (h - crop) // 2 and zero padding when the image is
smaller, rescale as float64 * (1/255) then float32, normalise (x - mean) / std in float32,
channels first.

Regenerate (Debian python3-pil and python3-numpy at /usr/bin/python3):
    /usr/bin/python3 tests/SynthVlm.Clip.Tests/Fixtures/make_preprocess_fixture.py
Writes preprocess/<name>.png (inputs), preprocess/<name>_<size>.bin (float32 little-endian,
[3, crop, crop], every `stride`-th value) and preprocess/cases.json.
"""
import json
import os

import numpy as np
from PIL import Image

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "preprocess")
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)


def make_image(w, h, seed):
    y, x = np.mgrid[0:h, 0:w]
    r = (x * 255 // max(w - 1, 1)).astype(np.uint8)
    g = np.where(((x // 7) + (y // 5)) % 2 == 0, 200, 40).astype(np.uint8)
    b = ((x * x + 3 * y * y + seed * 31) % 256).astype(np.uint8)
    return Image.fromarray(np.stack([r, g, b], axis=-1), "RGB")


def preprocess(img, size, crop):
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    if short != size:
        new_short, new_long = size, int(size * long / short)
        new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
        img = img.resize((new_w, new_h), resample=Image.BICUBIC)
    a = np.asarray(img)
    h, w = a.shape[:2]
    top, left = (h - crop) // 2, (w - crop) // 2
    out = np.zeros((crop, crop, 3), dtype=np.uint8)
    for yy in range(crop):
        sy = top + yy
        if 0 <= sy < h:
            for_x = np.arange(crop) + left
            ok = (for_x >= 0) & (for_x < w)
            out[yy, ok] = a[sy, for_x[ok]]
    f = (out.astype(np.float64) * (1 / 255)).astype(np.float32)
    f = (f - MEAN) / STD
    return f.transpose(2, 0, 1).astype(np.float32)


def main():
    os.makedirs(HERE, exist_ok=True)
    cases = []
    for name, w, h, seed, size, stride in [
        ("wide", 300, 200, 1, 64, 1),
        ("tall", 97, 160, 2, 64, 1),
        ("tiny", 40, 30, 3, 64, 1),  # upsampled
        ("exact", 64, 90, 4, 64, 1),  # short edge already 64: no resize
        ("big", 1024, 768, 5, 224, 7),
    ]:
        img = make_image(w, h, seed)
        img.save(os.path.join(HERE, f"{name}.png"))
        values = preprocess(img, size, size).reshape(-1)[::stride]
        values.astype("<f4").tofile(os.path.join(HERE, f"{name}_{size}.bin"))
        cases.append({"image": f"{name}.png", "size": size, "crop": size, "stride": stride,
                      "count": int(values.size)})
    with open(os.path.join(HERE, "cases.json"), "w") as f:
        json.dump({"generator": "Pillow " + Image.__version__ + ", numpy " + np.__version__, "cases": cases}, f, indent=1)


if __name__ == "__main__":
    main()

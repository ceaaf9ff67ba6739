#!/usr/bin/env python3
"""The Python path a SynthVLM user would take: Pillow + scikit-image, single-threaded.

usage:
  reference.py make DIR N            write N deterministic 1024x1024 JPEGs (quality 90) and one PNG
  reference.py ssim-score REPEAT F.. decode + bicubic 1024->336->1024 + skimage SSIM per file
  reference.py resize REPEAT FILE    Pillow bicubic 1024->336 on the decoded image
  reference.py png REPEAT FILE       Pillow PNG decode and encode (compress_level 6)
Prints one JSON object.
"""
import json
import os
import sys
import time

import numpy as np
from PIL import Image


def make(folder, n):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(1234)
    yy, xx = np.mgrid[0:1024, 0:1024].astype(np.float32)
    files = []
    for i in range(n):
        # A photo-like picture: smooth gradients, a few shapes with edges, sensor-like noise.
        r = 128 + 100 * np.sin(xx / (60 + 7 * i)) * np.cos(yy / (90 + 5 * i))
        g = 128 + 90 * np.cos((xx + yy) / (120 + 3 * i))
        b = 255 * (xx / 1023) * (1 - yy / 1023)
        img = np.stack([r, g, b], axis=-1)
        for _ in range(12):
            cx, cy, rad = rng.integers(0, 1024, 2).tolist() + [int(rng.integers(20, 160))]
            mask = (xx - cx) ** 2 + (yy - cy) ** 2 < rad ** 2
            img[mask] = rng.integers(0, 256, 3)
        img += rng.normal(0, 6, img.shape)
        arr = np.clip(img, 0, 255).astype(np.uint8)
        path = os.path.join(folder, f"photo-{i:02d}.jpg")
        Image.fromarray(arr).save(path, quality=90)
        files.append(path)
        if i == 0:
            Image.fromarray(arr).save(os.path.join(folder, "photo.png"), compress_level=6)
    return {"files": files, "png": os.path.join(folder, "photo.png")}


def ssim_score(repeat, files):
    from skimage.metrics import structural_similarity
    scores = {}
    start = time.perf_counter()
    for _ in range(repeat):
        for f in files:
            im = Image.open(f).convert("RGB")
            w, h = im.size
            back = im.resize((336, 336), Image.BICUBIC).resize((w, h), Image.BICUBIC)
            scores[f] = float(structural_similarity(np.asarray(im), np.asarray(back), gaussian_weights=True, sigma=1.5,
                                                    use_sample_covariance=False, data_range=255, channel_axis=-1))
    elapsed = time.perf_counter() - start
    return {"ms_per_image": 1000 * elapsed / (repeat * len(files)), "scores": scores}


def resize(repeat, path):
    im = Image.open(path).convert("RGB")
    im.load()
    start = time.perf_counter()
    for _ in range(repeat):
        im.resize((336, 336), Image.BICUBIC)
    return {"ms": 1000 * (time.perf_counter() - start) / repeat}


def png(repeat, path):
    import io
    data = open(path, "rb").read()
    start = time.perf_counter()
    for _ in range(repeat):
        im = Image.open(io.BytesIO(data))
        im.load()
    decode = 1000 * (time.perf_counter() - start) / repeat
    im = im.convert("RGB")
    start = time.perf_counter()
    for _ in range(repeat):
        out = io.BytesIO()
        im.save(out, format="PNG", compress_level=6)
    encode = 1000 * (time.perf_counter() - start) / repeat
    return {"decode_ms": decode, "encode_ms": encode, "encoded_bytes": out.tell()}


def main():
    mode = sys.argv[1]
    if mode == "make":
        result = make(sys.argv[2], int(sys.argv[3]))
    elif mode == "ssim-score":
        result = ssim_score(int(sys.argv[2]), sys.argv[3:])
    elif mode == "resize":
        result = resize(int(sys.argv[2]), sys.argv[3])
    elif mode == "png":
        result = png(int(sys.argv[2]), sys.argv[3])
    else:
        raise SystemExit(f"unknown mode {mode}")
    import PIL
    import skimage
    result["versions"] = {"pillow": PIL.__version__, "skimage": skimage.__version__, "numpy": np.__version__}
    print(json.dumps(result))


if __name__ == "__main__":
    main()

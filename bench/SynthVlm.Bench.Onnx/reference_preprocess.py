#!/usr/bin/python3
"""CLIP preprocessing of 1024x1024 JPEGs as a Python user runs it (Hugging Face's slow
CLIPImageProcessor path: Pillow decode, shortest-edge bicubic resize, centre crop, rescale,
normalise, channels first, float32), single-threaded. Usage: reference_preprocess.py SIZE FILE...
Prints {"ms_per_image": ..., "versions": {...}}."""
import json
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np
from PIL import Image

MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)


def preprocess(path, size):
    img = Image.open(path).convert("RGB")
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    if short != size:
        ns, nl = size, int(size * long / short)
        img = img.resize((ns, nl) if w <= h else (nl, ns), resample=Image.BICUBIC)
    a = np.asarray(img)
    h, w = a.shape[:2]
    top, left = (h - size) // 2, (w - size) // 2
    a = a[top:top + size, left:left + size]
    f = (a.astype(np.float64) * (1 / 255)).astype(np.float32)
    return ((f - MEAN) / STD).transpose(2, 0, 1)


size = int(sys.argv[1])
files = sys.argv[2:]
for f in files[:2]:
    preprocess(f, size)
start = time.perf_counter()
repeat = 3
for _ in range(repeat):
    for f in files:
        preprocess(f, size)
ms = (time.perf_counter() - start) * 1000 / (repeat * len(files))
import PIL
print(json.dumps({"ms_per_image": ms, "versions": {"pillow": PIL.__version__, "numpy": np.__version__}}))

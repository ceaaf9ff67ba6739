#!/usr/bin/python3
"""Reference LLaVA-1.5 image preprocessing, written from the public definitions with Pillow + numpy.

Two modes, as LLaVA's train.py / llava.mm_utils use them:
  crop: CLIPImageProcessor alone (pre-training, image_aspect_ratio "square" or absent);
  pad:  expand2square first (image_aspect_ratio "pad", instruction tuning): a square canvas of side
        max(w, h) filled with tuple(int(m * 255) for m in image_mean), the image pasted at
        (0, (w - h) // 2) when wider, ((h - w) // 2, 0) when taller; then CLIPImageProcessor.
CLIPImageProcessor's slow path (PIL semantics): the shortest edge resized to size["shortest_edge"]
(long edge int(size * long / short)) with Image.BICUBIC; centre crop with
top = (h - crop_h) // 2, left = (w - crop_w) // 2, zero padding first when the crop is larger
(transformers' center_crop); rescale float64 * rescale_factor then float32; (x - mean) / std in float32;
channels first.

Regenerate (Debian python3-pil and python3-numpy):
    /usr/bin/python3 tests/SynthVlm.Vlm.Tests/Fixtures/make_llava_image_reference.py
Writes llava_images/<name>.png (inputs), llava_images/<config>/preprocessor_config.json and
llava_image_reference.json: per case every `stride`-th float32 value of the [3, crop, crop] output,
little-endian, base64 (exact round trip).
"""
import base64
import json
import os

import numpy as np
from PIL import Image

FIXTURES = os.path.dirname(os.path.abspath(__file__))
IMAGES = os.path.join(FIXTURES, "llava_images")
MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]

# name -> (shortest_edge, crop_size): one where the crop equals the resize, one that crops further.
# s12c15 has a crop larger than the resize (odd difference): transformers' zero padding, which no
# real CLIP config reaches, but the crop must place it the way transformers does.
CONFIGS = {"s14c14": (14, 14), "s16c14": (16, 14), "s12c15": (12, 15), "s336c336": (336, 336)}
# name -> (width, height, seed)
IMAGE_SPECS = {
    "wide_37x23": (37, 23, 1),
    "tall_23x37": (23, 37, 2),
    "square_30x30": (30, 30, 3),
    "column_1x9": (1, 9, 4),
    "row_40x3": (40, 3, 5),
    "photo_500x375": (500, 375, 6),
}
# The real size (openai/clip-vit-large-patch14-336) only for the photo-sized image, every STRIDE-th
# value stored to keep the fixture small; the tiny configs only for the small images, every value.
REAL = ("photo_500x375", "s336c336")
STRIDE = 97


def make_image(w, h, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    r = (x * 255 // max(w - 1, 1)).astype(np.uint8)
    g = np.where(((x // 3) + (y // 2)) % 2 == 0, 230, 20).astype(np.uint8)
    if w * h <= 2000:
        b = rng.integers(0, 256, size=(h, w), dtype=np.uint8)
    else:  # a larger image gets a deterministic pattern instead of noise, so its PNG stays small
        b = ((x * x + 3 * y * y + seed * 31) % 256).astype(np.uint8)
    return Image.fromarray(np.stack([r, g, b], axis=-1), "RGB")


def expand2square(img, background):
    w, h = img.size
    if w == h:
        return img
    side = max(w, h)
    canvas = Image.new(img.mode, (side, side), background)
    canvas.paste(img, (0, (w - h) // 2) if w > h else ((h - w) // 2, 0))
    return canvas


def clip_preprocess(img, shortest, crop):
    w, h = img.size
    if w <= h:
        new_w, new_h = shortest, int(shortest * h / w)
    else:
        new_w, new_h = int(shortest * w / h), shortest
    img = img.resize((new_w, new_h), resample=Image.BICUBIC)  # Pillow returns a copy when the size is unchanged
    a = np.asarray(img)
    rh, rw = a.shape[:2]
    top, left = (rh - crop) // 2, (rw - crop) // 2  # floor division: negative when the crop is larger
    if top < 0 or left < 0:
        # transformers' center_crop zero-pads first: the image goes at ceil((new - old) / 2) on a
        # canvas of max(crop, old), and the crop window moves by the same offset.
        nh, nw = max(crop, rh), max(crop, rw)
        top_pad, left_pad = -(-(nh - rh) // 2), -(-(nw - rw) // 2)
        canvas = np.zeros((nh, nw, 3), dtype=np.uint8)
        canvas[top_pad:top_pad + rh, left_pad:left_pad + rw] = a
        a, top, left = canvas, top + top_pad, left + left_pad
        top, left = max(0, top), max(0, left)
    a = a[top:top + crop, left:left + crop]
    assert a.shape[:2] == (crop, crop)
    f = (a.astype(np.float64) * (1 / 255)).astype(np.float32)
    f = (f - np.array(MEAN, dtype=np.float32)) / np.array(STD, dtype=np.float32)
    return f.transpose(2, 0, 1).astype(np.float32)


def main():
    os.makedirs(IMAGES, exist_ok=True)
    background = tuple(int(m * 255) for m in MEAN)
    for cname, (shortest, crop) in CONFIGS.items():
        os.makedirs(os.path.join(IMAGES, cname), exist_ok=True)
        config = {
            "crop_size": {"height": crop, "width": crop},
            "do_center_crop": True,
            "do_normalize": True,
            "do_resize": True,
            "image_mean": MEAN,
            "image_processor_type": "CLIPImageProcessor",
            "image_std": STD,
            "resample": 3,
            "rescale_factor": 1 / 255,
            "size": {"shortest_edge": shortest},
        }
        with open(os.path.join(IMAGES, cname, "preprocessor_config.json"), "w") as f:
            json.dump(config, f, indent=2)
    cases = []
    for iname, (w, h, seed) in IMAGE_SPECS.items():
        img = make_image(w, h, seed)
        img.save(os.path.join(IMAGES, iname + ".png"))
        img = Image.open(os.path.join(IMAGES, iname + ".png")).convert("RGB")
        for cname, (shortest, crop) in CONFIGS.items():
            if (iname == REAL[0]) != (cname == REAL[1]):
                continue
            stride = STRIDE if cname == REAL[1] else 1
            for mode in ("crop", "pad"):
                src = expand2square(img, background) if mode == "pad" else img
                values = clip_preprocess(src, shortest, crop).reshape(-1)[::stride]
                cases.append({
                    "image": iname + ".png", "config": cname, "mode": mode, "crop": crop, "stride": stride,
                    "values_f32_le_base64": base64.b64encode(values.astype("<f4").tobytes()).decode("ascii"),
                })
    out = {
        "generator": "make_llava_image_reference.py, Pillow " + Image.__version__ + ", numpy " + np.__version__,
        "pad_background": list(background),
        "cases": cases,
    }
    with open(os.path.join(FIXTURES, "llava_image_reference.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()

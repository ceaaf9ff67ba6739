#!/usr/bin/python3
"""Reference draws of torch's CPU generator, as diffusers makes SDXL latents with
`generator=torch.Generator().manual_seed(seed)` (randn_tensor on the CPU, float32).

Regenerate with Debian's torch (python3-torch 1.13 at /usr/bin/python3):
    /usr/bin/python3 tests/SynthVlm.Diffusion.Tests/Pipeline/Fixtures/make_torch_randn.py
Writes torch_randn.json: per case the seed, the shapes of consecutive randn calls on one
generator, and the values drawn (the second call checks that the stream continues)."""
import json
import os

import torch

cases = []
for seed, shapes in [(0, [[16]]), (42, [[1, 4, 6, 8], [1, 4, 6, 8]]), (7, [[40]]), (123456789, [[1, 4, 16, 16]]), ((1 << 40) + 5, [[24], [17]])]:
    g = torch.Generator().manual_seed(seed)
    draws = [torch.randn(s, generator=g, dtype=torch.float32).reshape(-1).tolist() for s in shapes]
    cases.append({"seed": seed, "shapes": shapes, "draws": draws})
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_randn.json"), "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f)

#!/usr/bin/python3
"""Golden fixture for SynthVlm.Onnx.Tests: a tiny PyTorch model exported to ONNX, with
inputs and PyTorch's own outputs, so the C# binding can be checked against torch.

Regenerate (Debian's interpreter, which has torch 1.13 and onnx from apt):

    /usr/bin/python3 tests/SynthVlm.Onnx.Tests/Fixtures/make_torch_fixture.py

It writes, next to this script:
    torch_model.onnx   opset 17, dynamic batch axis "batch" on every input and output
    torch_io.json      {"inputs"|"outputs": {name: {"dtype", "shape", "data" (flat, row-major)}}}

The model covers the op families the CLIP/SDXL exports use: Conv, an int64 embedding lookup
(Gather), LayerNormalization, softmax attention (MatMul, Softmax), GELU (Erf) and a residual
MLP. Weights come from a fixed seed, so rerunning reproduces the same files on the same torch.
Change them only on purpose and say why in the commit message.
"""
import json
import math
import os

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
VOCAB, DIM, SEQ, IMG, PATCH = 32, 16, 6, 8, 4


class TinyVisionText(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.patch = nn.Conv2d(3, DIM, kernel_size=PATCH, stride=PATCH)
        self.norm1 = nn.LayerNorm(DIM)
        self.q = nn.Linear(DIM, DIM)
        self.k = nn.Linear(DIM, DIM)
        self.v = nn.Linear(DIM, DIM)
        self.norm2 = nn.LayerNorm(DIM)
        self.fc1 = nn.Linear(DIM, 2 * DIM)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(2 * DIM, DIM)
        self.head = nn.Linear(DIM, 8)

    def forward(self, input_ids, pixel_values):
        text = self.embed(input_ids)                                  # [b, SEQ, DIM]
        patches = self.patch(pixel_values).flatten(2).transpose(1, 2)  # [b, (IMG/PATCH)^2, DIM]
        x = torch.cat([text, patches], dim=1)
        h = self.norm1(x)
        scores = torch.matmul(self.q(h), self.k(h).transpose(1, 2)) / math.sqrt(DIM)
        x = x + torch.matmul(torch.softmax(scores, dim=-1), self.v(h))
        x = x + self.fc2(self.act(self.fc1(self.norm2(x))))
        return self.head(x.mean(dim=1)), x


def tensor_json(t):
    a = t.detach().cpu().numpy()
    return {"dtype": str(a.dtype), "shape": list(a.shape), "data": a.reshape(-1).tolist()}


def main():
    torch.manual_seed(1234)
    model = TinyVisionText().eval()
    batch = 3
    input_ids = torch.randint(0, VOCAB, (batch, SEQ), dtype=torch.int64)
    pixel_values = torch.randn(batch, 3, IMG, IMG, dtype=torch.float32)
    with torch.no_grad():
        logits, hidden = model(input_ids, pixel_values)

    onnx_path = os.path.join(HERE, "torch_model.onnx")
    torch.onnx.export(
        model,
        (input_ids, pixel_values),
        onnx_path,
        opset_version=17,
        input_names=["input_ids", "pixel_values"],
        output_names=["logits", "hidden"],
        dynamic_axes={
            "input_ids": {0: "batch"},
            "pixel_values": {0: "batch"},
            "logits": {0: "batch"},
            "hidden": {0: "batch"},
        },
        do_constant_folding=True,
    )

    io = {
        "torch_version": torch.__version__,
        "inputs": {"input_ids": tensor_json(input_ids), "pixel_values": tensor_json(pixel_values)},
        "outputs": {"logits": tensor_json(logits), "hidden": tensor_json(hidden)},
    }
    with open(os.path.join(HERE, "torch_io.json"), "w", encoding="utf-8") as f:
        # float32 values widened to double print exactly, so C# reads back the same float32.
        json.dump(io, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {onnx_path} ({os.path.getsize(onnx_path)} bytes) and torch_io.json; torch {torch.__version__}")


if __name__ == "__main__":
    main()

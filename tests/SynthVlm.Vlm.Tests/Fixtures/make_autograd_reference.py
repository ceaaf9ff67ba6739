#!/usr/bin/python3
"""Writes autograd_reference.json: y = sum(tanh(W x + b)^2) and its gradients, from PyTorch.

Run with Debian's /usr/bin/python3 (apt-get install python3-torch); the JSON is committed and
read by AutogradTests. Inputs are fixed decimal values (no random generator), so the C# test
builds the same fp32 tensors from the same JSON.
"""
import json
import os

import torch

W = [[0.5, -0.25, 0.125, 0.75],
     [-0.6, 0.3, 0.9, -0.15],
     [0.2, 0.4, -0.8, 0.1]]
x = [0.3, -1.2, 0.7, 2.0]
b = [0.05, -0.1, 0.2]

w_t = torch.tensor(W, dtype=torch.float32, requires_grad=True)
x_t = torch.tensor(x, dtype=torch.float32, requires_grad=True)
b_t = torch.tensor(b, dtype=torch.float32, requires_grad=True)
y = torch.tanh(w_t @ x_t + b_t).pow(2).sum()
y.backward()

out = {
    "generator": f"make_autograd_reference.py with torch {torch.__version__}",
    "function": "y = sum(tanh(W x + b)^2)",
    "W": W, "x": x, "b": b,
    "y": y.item(),
    "grad_W": w_t.grad.tolist(),
    "grad_x": x_t.grad.tolist(),
    "grad_b": b_t.grad.tolist(),
}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "autograd_reference.json")
with open(path, "w") as f:
    json.dump(out, f, indent=2)
    f.write("\n")
print(path)

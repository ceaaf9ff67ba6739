#!/usr/bin/env python3
"""Loads a PyTorch state dict with torch.load (as LLaVA reads mm_projector.bin) and prints, as
one JSON object, every key's shape, dtype and sum. Used by LlavaCheckpointWriterTests to check
that what SynthVlm writes is what PyTorch reads:

    /usr/bin/python3 tests/SynthVlm.Vlm.Tests/Fixtures/describe_state_dict.py mm_projector.bin
"""
import json
import sys

import torch

state = torch.load(sys.argv[1], map_location="cpu")
print(json.dumps({
    key: {"shape": list(value.shape), "dtype": str(value.dtype), "sum": float(value.double().sum())}
    for key, value in state.items()
}))

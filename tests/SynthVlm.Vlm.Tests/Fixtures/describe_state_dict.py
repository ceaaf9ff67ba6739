#!/usr/bin/env python3
"""Prints, as one JSON object, every tensor of a weight file with its shape, dtype and sum.

A .bin file is read with torch.load (as LLaVA reads mm_projector.bin); a .safetensors file is
parsed here from the format's definition (8-byte little-endian header length, JSON header with
dtype/shape/data_offsets relative to the end of the header, raw little-endian data), checking
that the byte ranges tile the data exactly. Used by LlavaCheckpointWriterTests to check that
what SynthVlm writes is what PyTorch reads:

    /usr/bin/python3 tests/SynthVlm.Vlm.Tests/Fixtures/describe_state_dict.py FILE
"""
import json
import struct
import sys

import torch


def describe(name, value):
    return {"shape": list(value.shape), "dtype": str(value.dtype), "sum": float(value.double().sum())}


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (length,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + length].decode("utf-8"))
    data = blob[8 + length:]
    dtypes = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
    tensors, ranges = {}, []
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        start, end = entry["data_offsets"]
        ranges.append((start, end))
        raw = torch.frombuffer(bytearray(data[start:end]), dtype=torch.uint8)
        tensors[key] = raw.view(dtypes[entry["dtype"]]).reshape(entry["shape"])
    ranges.sort()
    position = 0
    for start, end in ranges:
        if start != position:
            raise SystemExit(f"{path}: byte ranges do not tile the data at {position}")
        position = end
    if position != len(data):
        raise SystemExit(f"{path}: {len(data) - position} bytes after the last tensor")
    return header.get("__metadata__"), tensors


path = sys.argv[1]
if path.endswith(".safetensors"):
    metadata, state = read_safetensors(path)
else:
    metadata, state = None, torch.load(path, map_location="cpu")
result = {key: describe(key, value) for key, value in state.items()}
if metadata is not None:
    result["__metadata__"] = metadata
print(json.dumps(result))

#!/usr/bin/env bash
# GPU node check for the vision-language model (issue 15): builds bench/SynthVlm.Bench.Vlm with
# LibTorch's CUDA backend (-p:SynthVlmTorchBackend=Cuda restores TorchSharp-cuda-linux, which a
# GPU node can download; it is not served on the CPU build machines) and runs the tiny LLaVA
# forward+backward, generation and the 1,000-step memory run on the GPU in bf16, then in fp32.
# The PyTorch column is CPU/fp32 only, so it is skipped here. Not run on a GPU yet: the CUDA and
# bf16 paths of the bench are written to be simple (same code as CPU, tensors on cuda, SGD on the
# bf16 weights themselves), not tested. Extra arguments go to both bench runs.
# Usage: bash eng/gpu/check_vlm.sh [--steps N] [--batch B] [--memory-steps N]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$repo"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "nvidia-smi not found"
dotnet build bench/SynthVlm.Bench.Vlm/SynthVlm.Bench.Vlm.csproj -c Release -p:SynthVlmTorchBackend=Cuda -nologo -v:q -clp:ErrorsOnly
bench="bench/SynthVlm.Bench.Vlm/bin/Release/net10.0/SynthVlm.Bench.Vlm.dll"
status=0
echo "== cuda, bf16 =="
dotnet "$bench" --device cuda --dtype bf16 --threads 1 --steps 50 "$@" || status=$?
echo "== cuda, fp32 =="
dotnet "$bench" --device cuda --dtype fp32 --threads 1 --steps 50 "$@" || status=$?
echo "== LLaVA-1.5-7B shapes, random weights, cuda, bf16: stage-1 and LoRA stage-2 steps, generation =="
dotnet "$bench" --synthetic-7b --device cuda --dtype bfloat16 --batch 16 --steps 5 || status=$?
# The Release bin/ now holds the CUDA build; a CPU build restores TorchSharp-cpu again.
exit $status

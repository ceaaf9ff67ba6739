#!/usr/bin/env bash
# Idempotent provisioning of the native pieces SynthVlm needs on a fresh Debian machine
# (see shared ENVIRONMENT.md): redis-server, libturbojpeg0, libwebp/libpng, the Python
# references used by interop tests, and the ONNX Runtime native library.
# Safe to run repeatedly; each step is skipped when its result is already present.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
# The ONNX Runtime cache lives outside the work tree by default so clean clones reuse it.
ort_version="1.30.0"
ort_cache="${SYNTHVLM_ORT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/synthvlm/onnxruntime/$ort_version}"

log() { printf '[provision] %s\n' "$*" >&2; }

sudo_if_needed() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root to run: $*"; return 1; fi
}

# chromium: the dashboard's browser test drives Debian's headless chromium (never a downloaded browser).
apt_packages=(redis-server libturbojpeg0 libpng16-16 libwebp7 python3-grpcio python3-numpy python3-protobuf python3-pil chromium)
# Benchmarks and fixture scripts also compare against scikit-image (large: scipy et al.), so
# it is installed only on request: `bash eng/provision.sh --bench`.
bench=0
for arg in "$@"; do
  case "$arg" in
    --bench) apt_packages+=(python3-skimage); bench=1 ;;
    *) log "unknown option $arg (known: --bench)"; exit 2 ;;
  esac
done
# Python used by tests: Debian's interpreter, which the apt packages above install into.
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  sudo_if_needed apt-get update -qq >/dev/null
  sudo_if_needed apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "Debian packages present"
fi
# Debian starts a system redis-server on install; tests start their own on free ports, so stop it.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet redis-server 2>/dev/null; then
  sudo_if_needed systemctl stop redis-server || true
fi

if [ ! -f "$ort_cache/libonnxruntime.so.1" ]; then
  log "fetching ONNX Runtime $ort_version native library (npm onnxruntime-node@$ort_version) into $ort_cache"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "onnxruntime-node@$ort_version" >/dev/null)
  tar -xzf "$tmp"/onnxruntime-node-*.tgz -C "$tmp" package/bin/napi-v6/linux/x64/
  mkdir -p "$ort_cache"
  for f in "$tmp"/package/bin/napi-v6/linux/x64/libonnxruntime.so*; do
    cp -P "$f" "$ort_cache/"
  done
  log "ONNX Runtime at $ort_cache"
else
  log "ONNX Runtime present at $ort_cache"
fi

mkdir -p "$repo/.synthvlm"
printf '%s\n' "$ort_cache" > "$repo/.synthvlm/onnxruntime-path"

# The ONNX benchmark runs the same model through onnxruntime-node (the official Node binding of
# the same native library); its postinstall would fetch CUDA libraries, which CPU runs do not need.
if [ "$bench" -eq 1 ]; then
  bench_node="${XDG_CACHE_HOME:-$HOME/.cache}/synthvlm/bench-node"
  if [ ! -d "$bench_node/node_modules/onnxruntime-node" ]; then
    log "installing onnxruntime-node@$ort_version for benchmarks into $bench_node"
    mkdir -p "$bench_node"
    (cd "$bench_node" && ONNXRUNTIME_NODE_INSTALL=skip npm install --silent --no-audit --no-fund "onnxruntime-node@$ort_version" >/dev/null)
  else
    log "onnxruntime-node present at $bench_node"
  fi
fi

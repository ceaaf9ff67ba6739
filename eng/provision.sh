#!/usr/bin/env bash
# Idempotent provisioning of the native pieces SynthVlm needs on a fresh Debian machine
# (see shared ENVIRONMENT.md): redis-server, libturbojpeg0, libwebp/libpng, the Python
# references used by interop tests, and the TorchSharp fix for Debian 12 (below). ONNX Runtime is not fetched here: its native library comes
# with the NuGet package (Microsoft.ML.OnnxRuntime, runtimes/linux-x64/native) at restore.
# Safe to run repeatedly; each step is skipped when its result is already present.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

log() { printf '[provision] %s\n' "$*" >&2; }

sudo_if_needed() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root to run: $*"; return 1; fi
}

# chromium: the dashboard's browser test drives Debian's headless chromium (never a downloaded browser).
apt_packages=(redis-server libturbojpeg0 libpng16-16 libwebp7 python3-grpcio python3-numpy python3-protobuf python3-pil python3-onnx chromium)
# python3-torch: the Vlm tests read what SynthVlm writes with torch.load (LLaVA's mm_projector.bin).
apt_packages+=(python3-torch)
# g++ and patchelf make the TorchSharp fix below (where it is needed; its tests use them everywhere).
apt_packages+=(g++ patchelf)
# Benchmarks and fixture scripts also compare against scikit-image (large: scipy et al.), so
# it is installed only on request: `bash eng/provision.sh --bench`.
for arg in "$@"; do
  case "$arg" in
    --bench) apt_packages+=(python3-skimage) ;;
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

mkdir -p "$repo/.synthvlm"
# Earlier versions pointed the in-tree binding at an npm copy of libonnxruntime; nothing reads it now.
rm -f "$repo/.synthvlm/onnxruntime-path"

# TorchSharp 0.107's native wrapper (libLibTorchSharp.so) asks libstdc++ for GLIBCXX_3.4.32 for one
# symbol, std::ios_base_library_init(); Debian 12's libstdc++ stops at 3.4.30, so TorchSharp fails
# to load. Where that version is missing, eng/torchsharp/glibcxx_fix.py makes a patched copy of
# the wrapper (plus a one-function shim defining the symbol) under .synthvlm/torchsharp/<hash>/,
# and every build that copies TorchSharp to bin/ uses it (lib/SynthVlm.Vlm/build/*.targets). The
# NuGet cache is never modified. Before the first restore the build itself makes the copy.
torch_fix="$here/torchsharp/glibcxx_fix.py"
if /usr/bin/python3 "$torch_fix" --check >/dev/null; then
  torch_version=$(sed -n 's/.*Include="TorchSharp-cpu" Version="\([^"]*\)".*/\1/p' "$repo/Directory.Packages.props")
  torch_wrapper="${NUGET_PACKAGES:-$HOME/.nuget/packages}/torchsharp/$torch_version/runtimes/linux-x64/native/libLibTorchSharp.so"
  if [ -f "$torch_wrapper" ]; then
    /usr/bin/python3 "$torch_fix" --wrapper "$torch_wrapper" --out "$repo/.synthvlm/torchsharp"
  else
    log "TorchSharp $torch_version not restored yet: the first build patches its wrapper (libstdc++ lacks GLIBCXX_3.4.32)"
  fi
else
  log "libstdc++ has GLIBCXX_3.4.32: TorchSharp's wrapper is used as shipped"
fi

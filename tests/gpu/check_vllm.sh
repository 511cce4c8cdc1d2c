#!/usr/bin/env bash
# Here, on CPU: check the vLLM set that tests/gpu/build_vllm.sh made.
#   tests/gpu/check_vllm.sh PYTHON3.12
# PYTHON3.12: a venv's python holding torch 2.11.0 and the GPU image's other packages, but none of
# tests/gpu/vllm_wheels.txt (the set must bring those). Fails unless: the archive leaves room in
# one call; the flash-attention and MoE libraries stayed behind; every CUDA library left holds
# sm_90 code only, or one fallback entry per fat binary (keep_sm90.py --check); and every module
# of tests/gpu/vllm_imports.py imports from the set but vllm.platforms.cuda, which needs the
# driver's libcuda.so.1 (absent here).
set -euo pipefail
py=$1
repo=$(cd "$(dirname "$0")/../.." && pwd)
size=$(stat -c %s "$repo/.gpu-vllm.tar.xz")
echo ".gpu-vllm.tar.xz: $((size / 1048576)) MiB"
[ "$size" -le $((60 * 1048576)) ] || { echo "FAIL: over 60 MiB, no room in one call" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tar -xJf "$repo/.gpu-vllm.tar.xz" -C "$tmp"
lib=$tmp/vllm/vllm
if ls "$lib"/vllm_flash_attn/*.so "$lib"/_moe_C* 2>/dev/null; then echo "FAIL: left-behind libraries are there" >&2; exit 1; fi
for so in "$lib"/_C.abi3.so "$lib"/_C_stable_libtorch.abi3.so "$lib"/_flashmla_C.abi3.so "$lib"/_flashmla_extension_C.abi3.so; do
  archs=$("$py" "$repo/tests/gpu/keep_sm90.py" "$so" --list)
  echo "$(basename "$so"): $(echo "$archs" | tr '\t\n' ' ;')"
  "$py" "$repo/tests/gpu/keep_sm90.py" "$so" --check
done
out=$(PYTHONPATH=$tmp/vllm "$py" "$repo/tests/gpu/vllm_imports.py" 2>&1 || true)
echo "$out" | grep -E '^(ok|FAIL)'
fails=$(echo "$out" | grep '^FAIL' | grep -vc 'vllm.platforms.cuda: ImportError: libcuda.so.1' || true)
[ "$fails" = 0 ] || { echo "FAIL: $fails module(s) do not import from the set" >&2; exit 1; }
echo "check_vllm: ok"

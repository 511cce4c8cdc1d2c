#!/usr/bin/env bash
# Here, on CPU: check the Transformer Engine set that tests/gpu/build_te.sh made.
#   tests/gpu/check_te.sh BUILD_PYTHON TE_DIR
# BUILD_PYTHON: the build venv's python (torch 2.11.0+cu130); TE_DIR: the unpacked te/ folder.
# Fails unless: the core library holds sm_90 code only (read by our parser and, where the build
# venv has Triton's cuobjdump, by NVIDIA's own tool); the core wheel, the meta package and the torch
# extension have one version; .gpu-te.tar.xz leaves room in one call; and transformer_engine.pytorch
# imports here, without a GPU (torch first, as Megatron Core does: torch's import loads the NCCL,
# cuBLAS and cuDNN libraries of its nvidia-* wheels, which the core library links).
set -euo pipefail
py=$1 te=$2
repo=$(cd "$(dirname "$0")/../.." && pwd)
lib=$te/transformer_engine/wheel_lib/libtransformer_engine.so
archs=$("$py" "$repo/tests/gpu/keep_sm90.py" "$lib" --list)
echo "$archs"
[ "$(echo "$archs" | cut -f1,2)" = "$(printf 'cubin\tsm_90')" ] || { echo "FAIL: code for other architectures left" >&2; exit 1; }
cuobjdump=$("$py" -c "import triton, pathlib; print(pathlib.Path(triton.__file__).parent / 'backends/nvidia/bin/cuobjdump')" 2>/dev/null || true)
if [ -x "$cuobjdump" ]; then
  listed=$("$cuobjdump" --list-elf "$lib" | sed -E 's/.*\.(sm_[0-9a-z]+)\.cubin.*/\1/' | sort | uniq -c)
  echo "cuobjdump --list-elf: $listed"
  [ "$(echo "$listed" | awk '{print $2}' | sort -u)" = sm_90 ] || { echo "FAIL: cuobjdump sees other architectures" >&2; exit 1; }
fi
versions=$(find "$te" -maxdepth 1 -name "transformer_engine*.dist-info" -printf "%f\n" | sed -E 's/^[a-z0-9_]+-(.*)\.dist-info$/\1/' | sort -u)
echo "versions: $versions"
[ "$(echo "$versions" | wc -l)" = 1 ] || { echo "FAIL: the three packages' versions differ" >&2; exit 1; }
size=$(stat -c %s "$repo/.gpu-te.tar.xz")
echo ".gpu-te.tar.xz: $((size / 1048576)) MiB"
[ "$size" -le $((60 * 1048576)) ] || { echo "FAIL: over 60 MiB, no room in one call" >&2; exit 1; }
PYTHONPATH=$te "$py" -c "
import torch, transformer_engine, transformer_engine.pytorch as te_torch, importlib.metadata as md
import transformer_engine_torch
assert transformer_engine.__version__ == md.version('transformer_engine_torch'), 'version mismatch'
print('import transformer_engine.pytorch: ok on', torch.__version__, '(cuda available:', torch.cuda.is_available(), ')')
print('Linear:', te_torch.Linear.__module__, '| extension:', transformer_engine_torch.__file__)
"

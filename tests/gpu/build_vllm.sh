#!/usr/bin/env bash
# Here, before a GPU session (issue 27): vLLM 0.20.2 for the GPU machine (CPython 3.12, torch
# 2.11.0+cu130), in one git-ignored file:
#   .gpu-vllm.tar.xz  vllm/ : the wheels of tests/gpu/vllm_wheels.txt installed into one folder, with
#                     vLLM's CUDA libraries cut to Hopper by tests/gpu/keep_sm90.py --fallback
#                     (sm_90 code; where a fat binary has none, its newest older PTX, which the
#                     driver compiles there), and what a dense Llama on Triton attention never
#                     loads left behind: the flash-attention libraries (_vllm_fa2_C 191 MB, only
#                     sm_80 code and PTX; _vllm_fa3_C 152 MB) and the MoE kernels (_moe_C: vLLM
#                     imports it under contextlib.suppress(ImportError)), and static archives
#   tests/gpu/build_vllm.sh PYTHON3.12 [WORK_DIR]
# Then tests/gpu/check_vllm.sh checks it here. On the GPU machine: VLLM_ATTENTION_BACKEND=TRITON_ATTN
# (flash attention is not carried).
set -euo pipefail
py=$1
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mkdir -p "${2:-$repo/../vllm-build}" && cd "${2:-$repo/../vllm-build}" && pwd)
cd "$work"
rm -rf wheels vllm && mkdir -p wheels
# wheels for the running CPython 3.12 on x86-64, the GPU machine's: built where PyPI has only an
# sdist (antlr4-python3-runtime, pure Python)
grep -v '^#' "$repo/tests/gpu/vllm_wheels.txt" | "$py" -m pip wheel -q --no-deps -w wheels -r /dev/stdin
"$py" -m pip install -q --no-index --no-deps --no-compile --target vllm wheels/*.whl
lib=vllm/vllm
rm -f "$lib"/vllm_flash_attn/_vllm_fa2_C.abi3.so "$lib"/vllm_flash_attn/_vllm_fa3_C.abi3.so "$lib"/_moe_C.abi3.so
# static archives are for C++ builds against a package, never loaded by Python (xgrammar's: 70 MB)
find vllm -name '*.a' -delete
for so in _C _C_stable_libtorch _flashmla_C _flashmla_extension_C; do
  "$py" "$repo/tests/gpu/keep_sm90.py" "$lib/$so.abi3.so" "$lib/$so.sm90" --fallback
  mv "$lib/$so.sm90" "$lib/$so.abi3.so"
done
# SmolLM2-135M's tokenizer, chat template and config (no weights: the 98 MB GGUF cannot travel beside
# the set; tests/gpu/vllm_steps.sh gives the same architecture random weights there)
model_dir=$("$repo/.venv/bin/python" -c "
import sys; from pathlib import Path; from srlm_nemo.models import convert_embedded
print(convert_embedded('smollm2-135m', Path(sys.argv[1])))" "$work/cache")
mkdir -p vllm/smollm2-skeleton
for f in config.json generation_config.json tokenizer.json tokenizer_config.json chat_template.jinja; do
  cp "$model_dir/$f" vllm/smollm2-skeleton/
done
tar -cf - -C "$work" vllm | xz -9 -T0 > "$repo/.gpu-vllm.tar.xz"
size=$(stat -c %s "$repo/.gpu-vllm.tar.xz")
echo ".gpu-vllm.tar.xz: $((size / 1048576)) MiB"
[ "$size" -le $((60 * 1048576)) ] || { echo "FAIL: over 60 MiB, no room in one call" >&2; exit 1; }

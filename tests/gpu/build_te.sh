#!/usr/bin/env bash
# Here, before a GPU session: Transformer Engine 2.20.2 for the GPU machine (CPython 3.12, torch
# 2.11.0+cu130, CUDA 13), in one git-ignored file that travels beside the NeMo set:
#   .gpu-te.tar.xz  te/ : transformer_engine (the core wheel transformer-engine-cu13, its library
#                   reduced to the sm_90 cubins by tests/gpu/keep_sm90.py), the meta package's
#                   Python files, and transformer_engine_torch built here from its sdist
#   tests/gpu/build_te.sh PYTHON3.12 [WORK_DIR]
# The torch extension is a CppExtension (no .cu files): it builds on this CPU machine against
# PyPI's torch 2.11.0 (a CUDA 13 build) with the CUDA, cuDNN and NCCL headers of its nvidia-*
# wheels; about 48 minutes on 2 cores (2026-12-02). WORK_DIR (default ../te-build beside the checkout)
# keeps the build venv and downloads outside the repository; nothing there is committed.
# The versions: the core wheel, the meta package and the extension must be equal (TE's import
# checks it): NVTE_NO_LOCAL_VERSION keeps a +<sha> off the extension's version.
set -euo pipefail
py=$1
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mkdir -p "${2:-$repo/../te-build}" && cd "${2:-$repo/../te-build}" && pwd)
TE=2.20.2
cd "$work"
[ -x venv/bin/python ] || "$py" -m venv venv
venv/bin/pip install -q --upgrade pip
# cuda-toolkit[nvcc,cccl]: the crt/ headers that cuda_runtime.h includes ship with nvcc; its extra
# leaves nvidia-cuda-crt and nvidia-nvvm unpinned (pip took 13.5.37 beside nvcc 13.0.88, and ptxas then
# refused the newer PTX when Apex was built with it), so both are pinned to nvcc's 13.0
venv/bin/pip install -q torch==2.11.0 "cuda-toolkit[nvcc,cccl]==13.0.2" "nvidia-cuda-crt==13.0.*" "nvidia-nvvm==13.0.*" "nvidia-cudnn-frontend>=1.29.0" pybind11 ninja wheel "setuptools<82" packaging
venv/bin/pip download -q --no-deps -d dl "transformer-engine-cu13==$TE" "transformer-engine==$TE" \
  "transformer-engine-torch==$TE" --no-binary transformer-engine-torch
rm -rf src && mkdir -p src wheels && tar -xzf "dl/transformer_engine_torch-$TE.tar.gz" -C src
(
  cd "src/transformer_engine_torch-$TE"
  NVTE_PYTORCH_FORCE_BUILD=TRUE NVTE_NO_LOCAL_VERSION=1 NVTE_WITH_NCCL_EP=0 NVTE_BUILD_USE_NVIDIA_WHEELS=1 \
    MAX_JOBS=${MAX_JOBS:-2} ../../venv/bin/pip wheel -v --no-build-isolation --no-deps -w ../../wheels . > ../../build.log 2>&1
)
ls -l wheels
rm -rf te && mkdir te
venv/bin/pip install -q --no-index --no-deps --no-compile --target te \
  "dl/transformer_engine_cu13-$TE-py3-none-manylinux_2_28_x86_64.whl" "dl/transformer_engine-$TE-py3-none-any.whl" \
  wheels/transformer_engine_torch-"$TE"-*.whl
lib=$(find te -name 'libtransformer_engine.so' | head -1)
venv/bin/python "$repo/tests/gpu/keep_sm90.py" "$lib" "$lib.sm90"
mv "$lib.sm90" "$lib"
tar -cf - -C "$work" te | xz -9 -T0 > "$repo/.gpu-te.tar.xz"
echo ".gpu-te.tar.xz: $(( $(stat -c %s "$repo/.gpu-te.tar.xz") / 1048576 )) MiB"
bash "$repo/tests/gpu/check_te.sh" "$work/venv/bin/python" "$work/te"

#!/usr/bin/env bash
# On the GPU machine (the device tool), issue 11's NeMo steps through `srlm cluster smoke`, prepared
# here and not yet run (no GPU has been lent to this work). The wheels travel in three parts (64 MiB
# a call), so: three install calls, back to back while the machine stays warm, then the run:
#   tests/gpu/nemo_steps.sh install 1     carry: .gpu-wheels/part1 .gpu-env
#   tests/gpu/nemo_steps.sh install 2     carry: .gpu-wheels/part2 .gpu-env
#   tests/gpu/nemo_steps.sh install 3     carry: .gpu-wheels/part3 .gpu-env
#   tests/gpu/nemo_steps.sh run           carry: .gpu-env .gpu-src         (logs come back in $OUT)
# (tests/gpu/fetch_wheels.sh makes .gpu-wheels and .gpu-src here first.)
# Two Pythons: srlm runs in the machine's python3 (transformers 5, torch 2.11 with CUDA) with only
# its own small dependencies added (.gpu-env/srlm); NeMo's and NeMo-Aligner's scripts run in the same
# python3 with .gpu-env/nemo first on the path (NeMo 2.1.0's numpy 1.26, transformers 4.47 ...).
# What differs from the NeMo container: no Transformer Engine and no Apex CUDA extensions, which the
# machine cannot install. NeMo 2.1.0's converter needs both (its mcore GPT is built with TE's layer
# spec and its DDP strategy imports Apex's distributed Adam), so --force runs every step to record
# where each stops; training uses Megatron Core's local layer spec (*.parallel.transformer_engine=false).
set -euo pipefail
cd "$(dirname "$0")/../.."
case "${1:-}" in
  install)
    mkdir -p .gpu-env/nemo .gpu-env/srlm
    python3 -m pip install -q --no-index --no-deps --upgrade --target .gpu-env/nemo .gpu-wheels/part"$2"/*.whl
    # srlm's own: what the machine's image lacks of pyproject.toml's dependencies
    for w in .gpu-wheels/part"$2"/{hydra_core,omegaconf,antlr4,pydantic,annotated_types,typing_inspection,rapidfuzz}*.whl; do
      [ -e "$w" ] && python3 -m pip install -q --no-index --no-deps --upgrade --target .gpu-env/srlm "$w"
    done
    echo "part $2 installed: $(find .gpu-env/nemo -maxdepth 1 | wc -l) entries in .gpu-env/nemo" ;;
  run)
    out=${OUT:-runs/gpu-out}
    mkdir -p "$out"
    printf '#!/bin/sh\nPYTHONPATH=%s/.gpu-env/nemo:%s/.gpu-env/srlm:%s exec python3 "$@"\n' "$PWD" "$PWD" "$PWD" \
      > .gpu-env/nemo-python
    chmod +x .gpu-env/nemo-python
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$out/gpu.txt"
    PYTHONPATH="$PWD:$PWD/.gpu-env/srlm" python3 -m srlm_nemo.cli cluster smoke --force \
      --python .gpu-env/nemo-python --nemo-dir .gpu-src/NeMo --aligner-dir .gpu-src/NeMo-Aligner \
      --work runs/gpu-smoke sft.parallel.transformer_engine=false dpo.parallel.transformer_engine=false \
      2>&1 | tee "$out/smoke.txt" || true
    tar -czf "$out/logs.tar.gz" -C runs/gpu-smoke logs ;;
  *) echo "usage: $0 install 1|2|3 | run" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Here, before a GPU session: the wheels of tests/gpu/nemo_wheels.txt for CPython 3.12 (the GPU
# machine's), split into .gpu-wheels/part{1,2,3} of at most 60 MiB each, and NeMo's converters and
# NeMo-Aligner's training scripts copied from their tagged sources into .gpu-src/ (both folders are
# git-ignored; tests/gpu/nemo_steps.sh says how they travel).
#   tests/gpu/fetch_wheels.sh PYTHON3.12 NEMO_GIT_DIR NEMO_ALIGNER_GIT_DIR
# (the git directories: clones, or the bare mirrors `fetch` brings, with tags v2.1.0 / v0.7.0)
set -euo pipefail
py=$1 nemo=$2 aligner=$3
cd "$(dirname "$0")/../.."
rm -rf .gpu-wheels .gpu-src && mkdir -p .gpu-wheels/all .gpu-src/NeMo .gpu-src/NeMo-Aligner
grep -v '^#' tests/gpu/nemo_wheels.txt | "$py" -m pip wheel -q --no-deps -w .gpu-wheels/all -r /dev/stdin
"$py" - <<'PY'
import os, pathlib, shutil
files = sorted(pathlib.Path(".gpu-wheels/all").glob("*.whl"), key=lambda p: -p.stat().st_size)
parts, sizes = [[], [], []], [0, 0, 0]
for f in files:  # largest first, each into the emptiest part
    i = sizes.index(min(sizes))
    parts[i].append(f)
    sizes[i] += f.stat().st_size
assert max(sizes) <= 60 * 2**20, f"a part is over 60 MiB: {[s / 2**20 for s in sizes]}"
for i, part in enumerate(parts, 1):
    d = pathlib.Path(f".gpu-wheels/part{i}")
    d.mkdir()
    for f in part:
        shutil.move(str(f), d / f.name)
    print(f"part{i}: {len(part)} wheels, {sizes[i - 1] / 2**20:.1f} MiB")
shutil.rmtree(".gpu-wheels/all")
PY
git --git-dir="$nemo" archive v2.1.0 scripts/checkpoint_converters examples/nlp/language_modeling | tar -x -C .gpu-src/NeMo
git --git-dir="$aligner" archive v0.7.0 examples/nlp/gpt | tar -x -C .gpu-src/NeMo-Aligner
du -sh .gpu-wheels/* .gpu-src

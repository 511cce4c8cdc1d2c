#!/usr/bin/env bash
# Here, before a GPU session: what tests/gpu/nemo_steps.sh needs on the GPU machine, in two
# git-ignored places that travel in one call (64 MiB):
#   .gpu-env.tar.xz  the wheels of tests/gpu/nemo_wheels.txt for CPython 3.12 (the GPU machine's),
#                    installed into nemo/, less what tests/gpu/prune.txt lists (checked on CPU by
#                    tests/gpu/check_prune.sh), packed with xz (about 57 MiB)
#   .gpu-src/        NeMo's converters and NeMo-Aligner's training scripts from their tags, and Apex
#                    25.01's Python package with the sources of the two CUDA extensions NeMo needs
#   tests/gpu/fetch_wheels.sh PYTHON3.12 NEMO_GIT_DIR NEMO_ALIGNER_GIT_DIR APEX_GIT_DIR
# (the git directories: clones, or the bare mirrors `fetch` brings, with tags v2.1.0 / v0.7.0 / 25.01)
set -euo pipefail
py=$1 nemo=$2 aligner=$3 apex=$4
cd "$(dirname "$0")/../.."
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
rm -rf .gpu-env.tar.xz .gpu-src && mkdir -p "$build/wheels" "$build/env/nemo" .gpu-src/NeMo .gpu-src/NeMo-Aligner .gpu-src/apex
grep -v '^#' tests/gpu/nemo_wheels.txt | "$py" -m pip wheel -q --no-deps -w "$build/wheels" -r /dev/stdin
"$py" -m pip install -q --no-index --no-deps --no-compile --target "$build/env/nemo" "$build"/wheels/*.whl
bash tests/gpu/prune.sh "$build/env/nemo"
tar -cf - -C "$build/env" nemo | xz -9 -T0 > .gpu-env.tar.xz
size=$(stat -c %s .gpu-env.tar.xz)
echo ".gpu-env.tar.xz: $((size / 1048576)) MiB"
git --git-dir="$nemo" archive v2.1.0 scripts/checkpoint_converters examples/nlp/language_modeling | tar -x -C .gpu-src/NeMo
git --git-dir="$aligner" archive v0.7.0 examples/nlp/gpt | tar -x -C .gpu-src/NeMo-Aligner
git --git-dir="$apex" archive 25.01 apex csrc | tar -x -C .gpu-src/apex
# of Apex's own C++/CUDA sources under apex/, only the distributed Adam's are built there
find .gpu-src/apex/apex/contrib/csrc -mindepth 1 -maxdepth 1 ! -name optimizers -exec rm -rf {} +
total=$(( $(stat -c %s .gpu-env.tar.xz) + $(du -sb .gpu-src | cut -f1) + $(git ls-files -z | xargs -0 cat | wc -c) ))
echo "one call carries $((total / 1048576)) MiB (the limit is 64)"
[ "$total" -le $((62 * 1048576)) ] || { echo "too much for one call" >&2; exit 1; }

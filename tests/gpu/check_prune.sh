#!/usr/bin/env bash
# On CPU, before a GPU session: the deletions of tests/gpu/prune.txt made in a copy of .venv-contract
# (the same NeMo 2.1.0 / NeMo-Aligner 0.7.0 pins, for Python 3.11); then each script the smoke test
# runs goes as far as it can without a GPU, in the original and in the pruned copy, and must end the
# same way in both (exit status and last line): the DPO launcher and the SFT script compose their
# Hydra configs (--cfg job), the converters and megatron_ckpt_to_nemo.py print their --help.
#   tests/gpu/check_prune.sh SRC      (SRC holds NeMo/ and NeMo-Aligner/ sources at v2.1.0 / v0.7.0)
set -euo pipefail
src=$1
cd "$(dirname "$0")/../.."
repo=$(pwd) tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -a .venv-contract "$tmp/venv"
bash tests/gpu/prune.sh "$tmp/venv/lib/python3.11/site-packages"
ends() {  # "<exit status> <last line>" of a run in the environment $1
  local rc=0
  (cd "$tmp" && PYTHONPATH="$repo" "$1/bin/python" "${@:2}" > "$tmp/out" 2>&1) || rc=$?
  echo "$rc $(tail -1 "$tmp/out")"
}
same=0
check() {
  local a b
  a=$(ends "$repo/.venv-contract" "$@") b=$(ends "$tmp/venv" "$@")
  if [ "$a" = "$b" ]; then echo "same  ${a:0:160}"; else echo "DIFFERS: $*"; echo "  original: $a"; echo "  pruned:   $b"; same=1; fi
}
check -m srlm_nemo.backends.nemo_aligner.run_aligner_dpo "$src/NeMo-Aligner/examples/nlp/gpt/train_gpt_dpo.py" --cfg job
check "$src/NeMo-Aligner/examples/nlp/gpt/train_gpt_sft.py" --cfg job
for s in scripts/checkpoint_converters/convert_llama_hf_to_nemo.py scripts/checkpoint_converters/convert_llama_nemo_to_hf.py \
         examples/nlp/language_modeling/megatron_ckpt_to_nemo.py; do
  check "$src/NeMo/$s" --help
done
exit $same

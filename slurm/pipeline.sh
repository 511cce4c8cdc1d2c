#!/usr/bin/env bash
# The whole recipe as chained jobs: SFT, then iterations 2..T, each after the previous succeeded.
#   slurm/pipeline.sh [hydra overrides...]        (T = run.iterations, default 3)
# Each job gets its sbatch options from the config (`srlm cluster sbatch-args`: nodes, GPUs,
# partition, account, time limit); overrides reach every job, shell-quoted; extra sbatch options
# go in SBATCH_ARGS.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [[ ! -f $here/sft.sh ]]; then  # sbatch runs a copy of this script from Slurm's spool folder
  echo "srlm: error: slurm/pipeline.sh submits the jobs itself: run it directly from the repository" \
       "(slurm/pipeline.sh [overrides...]), not with sbatch" >&2
  exit 2
fi
PY=${SRLM_PYTHON:-python}
if ! "$PY" -c 'import srlm_nemo.cli, hydra' 2>/dev/null; then
  echo "srlm: error: '$PY' cannot import srlm_nemo: pip install -e . in the repository, or set SRLM_PYTHON" >&2
  exit 2
fi
iterations=$("$PY" -c 'import sys; from srlm_nemo.config import load_config; print(load_config(sys.argv[1:])[0].run.iterations)' "$@")
read -r -a extra <<< "${SBATCH_ARGS:-}"
mapfile -t sft_args < <("$PY" -m srlm_nemo.cli cluster sbatch-args --part sft "$@")
mapfile -t it_args < <("$PY" -m srlm_nemo.cli cluster sbatch-args --part iteration "$@")
job=$(sbatch --parsable "${sft_args[@]}" "${extra[@]}" "$here/sft.sh" "$@")
echo "sft: job $job"
for ((t = 2; t <= iterations; t++)); do
  job=$(sbatch --parsable --export=ALL,ITERATION=$t --dependency=afterok:"$job" "${it_args[@]}" "${extra[@]}" \
        "$here/iteration.sh" "$@")
  echo "iteration $t: job $job"
done

#!/usr/bin/env bash
# Seed data and M1 (SFT on IFT+EFT), plus the EFT builder stages when configured. Like iteration.sh:
# resumes finished stages, requeues before the time limit, resubmits itself when too small.
#   sbatch slurm/sft.sh [hydra overrides...]
#SBATCH --job-name=srlm-sft
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --signal=B:USR1@300
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=slurm-%x-%j.out
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-.}"
py=${SRLM_PYTHON:-python}
if ! "$py" -c 'import srlm_nemo.cli, hydra' 2>/dev/null; then
  echo "srlm: error: '$py' cannot import srlm_nemo: install the package in the Python the job runs" \
       "(pip install -e . in the repository) or point SRLM_PYTHON at one that has it" >&2
  exit 2
fi
exec "$py" -m srlm_nemo.cluster.job --part sft --script "$0" "$@"

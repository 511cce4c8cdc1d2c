#!/usr/bin/env bash
# Seed data and M1 (SFT on IFT+EFT), plus the EFT builder stages when configured.
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
PY=${SRLM_PYTHON:-python}
requeue() { echo "srlm: time limit near, requeueing job ${SLURM_JOB_ID}"; scontrol requeue "${SLURM_JOB_ID}"; exit 0; }
trap requeue USR1
mapfile -t steps < <("$PY" -m srlm_nemo.cli cluster steps --part sft --python "$PY" "$@")
for step in "${steps[@]:1}"; do
  echo "srlm: $step"
  bash -c "$step" &
  wait $!
done

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
exec "${SRLM_PYTHON:-python}" -m srlm_nemo.cluster.job --part sft --script "$0" "$@"

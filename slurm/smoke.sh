#!/usr/bin/env bash
# The smoke test of one node, before GPU-hours go to a 70B run: NeMo's converters, NeMo-Aligner's
# SFT and DPO for a few steps (TP x PP scaled to the node's GPUs), export, then sampling and judging
# with the configured generation backend, all on a tiny random Llama. One line per step: PASS,
# FAIL (with its log's last lines and the log's path) or SKIP (why); the job fails on any FAIL.
#   sbatch --gpus-per-node=4 slurm/smoke.sh [--python P] [--nemo-dir D] [--aligner-dir D] [overrides...]
# --python: the training Python (NeMo, NeMo-Aligner, Apex, Transformer Engine: the NeMo image's);
# the defaults for the sources are cluster.nemo_dir and cluster.nemo_aligner_dir.
#SBATCH --job-name=srlm-smoke
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --time=01:00:00
#SBATCH --output=slurm-%x-%j.out
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-.}"
py=${SRLM_PYTHON:-python}
if ! "$py" -c 'import srlm_nemo.cli, hydra' 2>/dev/null; then
  echo "srlm: error: '$py' cannot import srlm_nemo: install the package in the Python the job runs" \
       "(pip install -e . in the repository) or point SRLM_PYTHON at one that has it" >&2
  exit 2
fi
exec "$py" -m srlm_nemo.cli cluster smoke --work "runs/smoke-${SLURM_JOB_ID:-local}" "$@"

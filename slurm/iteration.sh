#!/usr/bin/env bash
# One self-rewarding iteration (prompts -> candidates -> judge -> pairs -> DPO) in one allocation,
# each stage a job step in its container. Resubmitted or requeued, it skips the finished stages.
#   sbatch [--nodes=N ...] slurm/iteration.sh [hydra overrides...]
#   ITERATION=3 sbatch slurm/iteration.sh ...    (default: the first unfinished iteration)
#SBATCH --job-name=srlm-iteration
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --signal=B:USR1@300
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=slurm-%x-%j.out
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-.}"
PY=${SRLM_PYTHON:-python}

# Before the time limit Slurm sends USR1 to this script: requeue; the stages resume on restart.
requeue() { echo "srlm: time limit near, requeueing job ${SLURM_JOB_ID}"; scontrol requeue "${SLURM_JOB_ID}"; exit 0; }
trap requeue USR1

mapfile -t steps < <("$PY" -m srlm_nemo.cli cluster steps --part iteration --iteration "${ITERATION:-auto}" \
                       --python "$PY" "$@")
echo "srlm: ${steps[0]}"
for step in "${steps[@]:1}"; do
  echo "srlm: $step"
  # in the background + wait, so the USR1 trap runs while a step is going
  bash -c "$step" &
  wait $!
done

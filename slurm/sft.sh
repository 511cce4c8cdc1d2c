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
PY=${SRLM_PYTHON:-python}
part=sft
requeue() { echo "srlm: time limit near, requeueing job ${SLURM_JOB_ID}"; scontrol requeue "${SLURM_JOB_ID}"; exit 0; }
trap requeue USR1
rc=0
out=$("$PY" -m srlm_nemo.cli cluster steps --part "$part" --python "$PY" "$@") || rc=$?
if (( rc == 3 )) && [[ -z ${SRLM_RESUBMITTED:-} ]]; then
  mapfile -t args < <("$PY" -m srlm_nemo.cli cluster sbatch-args --part "$part" "$@")
  log=$(scontrol show job "$SLURM_JOB_ID" | sed -n 's/^ *StdOut=//p')  # the new job appends to this log
  sbatch --export=ALL,SRLM_RESUBMITTED=1 --output="$log" "${args[@]}" "$0" "$@"
  exit 0
fi
(( rc == 0 )) || exit "$rc"
mapfile -t steps <<< "$out"
echo "srlm: ${steps[0]}"
for step in "${steps[@]:1}"; do
  echo "srlm: $step"
  bash -c "$step" &
  wait $!
done

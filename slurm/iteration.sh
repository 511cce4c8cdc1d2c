#!/usr/bin/env bash
# One self-rewarding iteration (prompts -> candidates -> judge -> pairs -> DPO [-> selection]) in one
# allocation, each stage a job step in its container. Resubmitted or requeued, it skips the finished
# stages; submitted with fewer nodes than the experiment needs, it resubmits itself with the right
# sbatch options (`srlm cluster sbatch-args --part iteration ...`; `srlm plan` prints them).
#   sbatch slurm/iteration.sh [hydra overrides...]
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
part=iteration

# Before the time limit Slurm sends USR1 to this script: requeue; the stages resume on restart.
requeue() { echo "srlm: time limit near, requeueing job ${SLURM_JOB_ID}"; scontrol requeue "${SLURM_JOB_ID}"; exit 0; }
trap requeue USR1

rc=0
out=$("$PY" -m srlm_nemo.cli cluster steps --part "$part" --iteration "${ITERATION:-auto}" --python "$PY" "$@") || rc=$?
if (( rc == 3 )) && [[ -z ${SRLM_RESUBMITTED:-} ]]; then
  # too few nodes: this same script again ($0 is Slurm's copy of it) with the job's own options
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
  # in the background + wait, so the USR1 trap runs while a step is going
  bash -c "$step" &
  wait $!
done

#!/usr/bin/env bash
# One self-rewarding iteration (prompts -> candidates -> judge -> pairs -> DPO [-> selection]) in one
# allocation, each stage a job step in its container. Resubmitted or requeued, it skips the finished
# stages; submitted with fewer nodes than the experiment needs, it resubmits itself with the right
# sbatch options (`srlm cluster sbatch-args --part iteration ...`; `srlm plan` prints them).
#   sbatch slurm/iteration.sh [hydra overrides...]
#   ITERATION=3 sbatch slurm/iteration.sh ...    (default: the first unfinished iteration)
# The job's logic is srlm_nemo/cluster/job.py, exec'd so that it receives the USR1 warning itself.
#SBATCH --job-name=srlm-iteration
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
exec "$py" -m srlm_nemo.cluster.job --part iteration --script "$0" "$@"
